changecom(divnum()x,(#
y))
