include(`does_not_exist.m4')x
sinclude(`does_not_exist.m4')y
