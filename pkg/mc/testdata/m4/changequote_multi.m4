changequote(<<,>>)<<a<<b>>c>>
define(<<x>>,<<y>>)<<x>> x
