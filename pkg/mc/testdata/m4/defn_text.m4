define(`a',`hello $1')define(`b',defn(`a'))b(w)
defn(`a')
defn(`nope')x
