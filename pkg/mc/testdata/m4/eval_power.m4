eval(2**10) eval(2**3**2) eval(-2**2) eval(0**0) eval(2**-1) eval(2**31) eval(2**32) eval((-1)**3)
