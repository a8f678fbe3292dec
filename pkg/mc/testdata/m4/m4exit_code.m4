a
m4exit(3)
b
