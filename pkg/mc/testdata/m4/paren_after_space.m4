define(`f',`[$1]')f (x) f(y)
