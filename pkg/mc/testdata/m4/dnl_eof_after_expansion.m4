define(`f',`a
b
c')f`'dnl