changecom(`3')define(`f',`3abc')f(
x,
y) rest