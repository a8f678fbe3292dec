define(`f',`ab')define(`abc',`joined')f`'c fc
substr(`hello',1)substr(`hello',2)
