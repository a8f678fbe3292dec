define(`syscmd',`no shell here')syscmd(ls)
