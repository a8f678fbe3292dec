eval(`  1 +   2  ') eval(` - 3') eval(`(  4 )')
