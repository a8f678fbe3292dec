divert(1)x
divert(-1)undivert(1)divert(0)y
