define(`f',`$10 $11 $9')f(a,b,c,d,e,f,g,h,i,j,k)
