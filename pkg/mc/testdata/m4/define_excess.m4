define(`a',`b',`c')a
