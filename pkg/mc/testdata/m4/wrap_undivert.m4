divert(1)one
divert(0)m4wrap(`undivert(1)after')main
