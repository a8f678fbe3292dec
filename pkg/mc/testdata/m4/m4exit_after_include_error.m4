include(`nope')m4exit
