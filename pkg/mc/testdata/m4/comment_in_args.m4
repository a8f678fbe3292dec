define(`f',`[$1]')f(# comment, with comma)
)
