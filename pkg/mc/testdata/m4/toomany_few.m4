index(`a')|substr(`a')|translit(`a')|ifdef(`a')|incr|incr()|define()
