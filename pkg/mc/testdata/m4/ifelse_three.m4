ifelse(a,a,yes) ifelse(a,b,yes)
