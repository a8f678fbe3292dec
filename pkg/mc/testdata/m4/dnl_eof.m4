text
dnl no newline