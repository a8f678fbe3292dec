include(`.')z
