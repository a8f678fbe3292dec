incr(x)m4exit
