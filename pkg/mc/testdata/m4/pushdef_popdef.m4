define(`x',1)pushdef(`x',2)x popdef(`x')x popdef(`x')x
pushdef(`y')y.popdef(`y',`y')y
