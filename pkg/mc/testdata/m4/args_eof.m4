define(`f',`x')f(a,
b
