divert(1)a
divert(2)undivert(1)b
divert(0)undivert(2)
