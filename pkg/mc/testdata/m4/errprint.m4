errprint(`hello
')errprint(`a',`b',`c
')errprint
errprint()x
