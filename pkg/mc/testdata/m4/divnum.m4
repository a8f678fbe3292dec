divnum divert(5)divnum divert(-1)divnum divert(-7)divnum divert(0)divnum
