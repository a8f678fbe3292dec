define(`f',`($*)($@)')f(a,`b,c',`d')
define(`g',`$#')g(f(1,2))
