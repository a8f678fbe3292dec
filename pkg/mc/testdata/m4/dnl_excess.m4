dnl(1,2)x
y
