changecom(`3')len(`abc',
x,
y) rest