eval(1/0)|eval(1%0)|eval(1+)|eval(`(1')|eval(1 2)|eval(`')|eval(`1,2')|eval(a)|eval(1?2:3)
