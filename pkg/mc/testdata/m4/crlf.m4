define(`a',`b')
a
