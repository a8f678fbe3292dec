define(`def',defn(`define'))def(`z',`zz')z
defn(`define',`a')
