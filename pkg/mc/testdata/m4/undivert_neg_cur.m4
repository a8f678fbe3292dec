divert(1)a
undivert(-1)undivert(0)undivert(1)divert(0)b
