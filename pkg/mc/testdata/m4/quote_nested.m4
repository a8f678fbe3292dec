`a `b' c'
``x''
define(`q',``in'')q
