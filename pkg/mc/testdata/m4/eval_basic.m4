eval(1+2*3) eval((1+2)*3) eval(10/3) eval(-10/3) eval(10%3) eval(-10%3) eval(7-2-1)
