divert(1)a
undivert(1)divert(0)x
