define(`fact',`ifelse($1,0,1,`eval($1*fact(decr($1)))')')fact(10)
