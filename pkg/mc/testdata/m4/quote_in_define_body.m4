define(`q',`$1')q(``quoted'')
define(`lq',`changequote([,])[x]changequote')lq `y'
