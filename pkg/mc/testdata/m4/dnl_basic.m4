a dnl comment
b
dnl
c dnl