translit(`hello world',`a-z',`A-Z')|translit(`abc',`cba')|translit(`a-b',`-')|translit(`hello',`z-a',`1')|translit(`abcdef',`a-c',`x')|translit(`aabb',`aa',`xy')|translit(`x')
