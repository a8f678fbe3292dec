divert(2)2a
divert(1)1a
divert(2)2b
divert(1)1b
divert
0
