shift shift(a) shift(a,b) shift(a,`b,c',d)
define(`cnt',`ifelse($#,0,0,`$1',`',0,`incr(cnt(shift($@)))')')cnt(a,b,c)
