changecom(`#',`')# x
y
