changequote(`[')[a' ]
