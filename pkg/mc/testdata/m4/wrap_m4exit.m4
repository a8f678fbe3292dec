divert(1)d
divert(0)m4wrap(`m4exit(5)')a
