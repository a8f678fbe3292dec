define(`t',`ifelse($1,1,one,$1,2,two,$1,3,three,other)')t(1) t(2) t(3) t(4)
