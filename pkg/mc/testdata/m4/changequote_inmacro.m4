define(`cq',`changequote([,])')cq [a] `b'
