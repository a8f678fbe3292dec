m4wrap(`m4exit(0)')include(`nope')x
