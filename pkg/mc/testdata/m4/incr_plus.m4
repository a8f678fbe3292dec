incr(+5)|decr(`0x10')|incr(`-')|incr(`  ')|decr(-0)
