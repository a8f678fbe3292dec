ifelse(a,b,1,c,d,2)|ifelse(a,b,1,c,c,2)|ifelse(a,b,1,c,d,2,e,e,3)
