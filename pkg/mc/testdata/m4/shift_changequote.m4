changequote([,])define([f],[shift($@)])f(a,[b,c],d)
