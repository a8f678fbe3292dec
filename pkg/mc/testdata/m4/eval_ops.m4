eval(1<2) eval(2<=2) eval(3>2) eval(2>=3) eval(1==1) eval(1!=1) eval(!0) eval(~0) eval(5&3) eval(5|3) eval(5^3) eval(1<<4) eval(256>>4) eval(1&&0) eval(1||0)
