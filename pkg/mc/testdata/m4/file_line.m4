__file__ __line__

__line__ define(`l',`__line__')l
l(
)
