define(`a1',`A')a1 1a1 _a1 a1b a1_
