define(`a',`1')define(`f',`[$@]')changequote(`',`]')defn(a)f(x,y)
changequote`'changequote(`')defn(`a')f(p)
changequote`'changequote(`',`')defn(`a')f(q)
