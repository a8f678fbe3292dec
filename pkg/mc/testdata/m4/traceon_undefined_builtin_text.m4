dumpdef_not(x) patsubst_x
