define(`a',`b')define(`b',`c')a
define(`x',`y')define(`y',``x'')y
