`multi
line
quote'__line__
# comment
__line__
define(`m',`

')m __line__
