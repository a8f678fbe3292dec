define
define x
define()
