define(`f',`$ $x $$ $')f(1)
