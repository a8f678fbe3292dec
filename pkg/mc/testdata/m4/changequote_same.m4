changequote(",")"a" "define"(x,y)x
