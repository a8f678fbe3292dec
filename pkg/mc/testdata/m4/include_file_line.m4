__file__:__line__
include(`inc_lines.inc')__file__:__line__
