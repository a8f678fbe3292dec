ifelse(`a',`b')x
