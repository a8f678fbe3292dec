defn(`define')x
define(`y',defn(`len')xx)y
define(`z',`a'defn(`len'))z
