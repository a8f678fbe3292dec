eval(0x1F) eval(0X10) eval(0b101) eval(017) eval(09) eval(0r36:zz) eval(0r2:101) eval(0r1:111) eval(0r37:1)
