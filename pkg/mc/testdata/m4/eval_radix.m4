eval(255,16) eval(255,2) eval(255,8,6) eval(-5,2,4) eval(5,1) eval(7,36) eval(1,37) eval(1,0) eval(5,10,-1) eval(0,16,3)
