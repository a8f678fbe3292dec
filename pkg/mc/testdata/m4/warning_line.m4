define(`x',
`y',
`z')
len(`a',
`b')
