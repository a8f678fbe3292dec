changequote(`')`a' define(x,y)x
changequote`'`x'
