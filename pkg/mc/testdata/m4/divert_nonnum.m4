divert(`x')a
divert(`')b
divert( 1)c
divert(0)
