before
include(`inc_part.inc')after __line__
