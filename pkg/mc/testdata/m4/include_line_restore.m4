a
include(`inc_lines.inc')__line__
b __line__
