define(`a',`1')define(`b',`2')defn(`a',`b')
