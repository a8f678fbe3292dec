len(`x',changecom(divnum()',(#
y)))