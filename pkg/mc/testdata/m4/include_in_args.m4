define(`f',`[$1|$2]')f(a include(`inc_part.inc'), b)
