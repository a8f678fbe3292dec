changecom
# a define(`x',y)x
changecom(`#')# x
