ifelse(a,b,1,c,d,2,x)|ifelse(a,a,1,2,3,4)
