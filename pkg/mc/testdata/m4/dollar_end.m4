define(`f',`cost $')f(1) define(`g',`$$1')g(x)
