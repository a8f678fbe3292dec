patsubst(`a
b', `^', `>')|patsubst(`a
b', `$', `<')|regexp(`x
ab',`^a')|patsubst(`ab cd',`\b',`|')|patsubst(`ab cd',`\B',`|')
patsubst(`aXbXc',`X',`\\')|regexp(`hello',`l+',`[\&]')|patsubst(`a.b.c',`\.',`-')|patsubst(`x[y]z',`[][]',`_')|patsubst(`a\b',`[\]',`/')
