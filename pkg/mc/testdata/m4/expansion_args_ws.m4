define(`sp',` ')define(`f',`<$1>')f(sp x)f(
`' y)
