changequote(`|',`|')|a|b|c|
