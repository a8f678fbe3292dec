f(


dnl