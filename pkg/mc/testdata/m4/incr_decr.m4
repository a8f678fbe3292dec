incr(1) decr(1) incr(-1) incr(2147483647) decr(-2147483648) incr() incr( 5) incr(x) incr(99999999999999) incr(99999999999999999999)
