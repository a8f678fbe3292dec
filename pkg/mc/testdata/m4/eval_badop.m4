eval(`2++3')|eval(`1 =< 2')|eval(`x+=1')|eval(`1<<=2')
