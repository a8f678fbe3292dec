changequote([,])[quoted `x']
define([a],[b])a [a]
changequote`'`a'
