changecom(`3')define(`f',`3abc')

f rest