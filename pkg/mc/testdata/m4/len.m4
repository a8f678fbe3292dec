len len() len(`abc') len(`a,b') len(1,2)
