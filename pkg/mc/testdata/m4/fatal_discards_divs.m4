divert(1)x
divert(0)y
`unterminated
