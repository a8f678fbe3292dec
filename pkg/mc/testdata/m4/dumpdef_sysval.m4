define(`foo',`bar $1')dumpdef(`foo',`len',`nope')sysval
pushdef(`foo',`two')dumpdef(`foo')
define(`e')dumpdef(`e')
