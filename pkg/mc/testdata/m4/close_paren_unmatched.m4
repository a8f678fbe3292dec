a)b(c
define(`f',`$1')f(())x
