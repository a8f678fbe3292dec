translit(`a\b',`\\',`/')|translit(`abc',`a-',`xy')|translit(`a-c',`a-c',`123')
