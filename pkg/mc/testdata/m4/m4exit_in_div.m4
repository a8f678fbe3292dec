a
divert(1)b
m4exit(2)
