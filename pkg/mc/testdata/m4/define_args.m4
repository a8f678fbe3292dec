define(`f', `[`$0'][$1][$2][$#]')f f() f(a) f(a,b) f(a, b ,c )
