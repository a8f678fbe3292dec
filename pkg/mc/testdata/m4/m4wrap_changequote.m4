m4wrap(`changequote([,])[wrapped] `x'')text
