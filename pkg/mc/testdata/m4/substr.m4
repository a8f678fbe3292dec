substr(`hello',1)|substr(`hello',1,3)|substr(`hello',-1,2)|substr(`hello',2,-1)|substr(`hello',9)|substr(`hello',1,99)|substr(`hello')|substr(`hello',`')|substr(`hello',x)
