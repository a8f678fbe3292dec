changequote([,])define([f],[$@])define([g],[$1])g(f([a,b]))
