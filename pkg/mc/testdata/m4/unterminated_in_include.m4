include(`inc_bad.inc')after
