ifelse(a,a,yes,no) ifelse(a,b,yes,no)
