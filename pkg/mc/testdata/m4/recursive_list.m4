define(`rev',`ifelse(`$#',`0',,`$#',`1',``$1'',`rev(shift($@)),`$1'')')rev(a,b,c,d)
