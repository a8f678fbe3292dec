`unterminated
string
