m4wrap(`divert(1)late')divert(1)early
divert(0)main
