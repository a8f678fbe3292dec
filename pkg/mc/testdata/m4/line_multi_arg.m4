define(`f',`$1')f(`a
b
c')__line__
incr(
x
)__line__
