divert(1)a
divert(2)b
divert(3)c
divert(0)undivert(3,1)
rest
