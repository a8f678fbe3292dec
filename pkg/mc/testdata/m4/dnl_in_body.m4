define(`d',`a dnl b')d c
next
