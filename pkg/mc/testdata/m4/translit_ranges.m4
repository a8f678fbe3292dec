translit(`0123456789',`0-9',`a-j')|translit(`hello',`a-',`x')|translit(`-a-',`-a')|translit(`abc',`',`x')
