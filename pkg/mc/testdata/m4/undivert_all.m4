divert(1)a
divert(2)b
divert(0)undivert
rest
