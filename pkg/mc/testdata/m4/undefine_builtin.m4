undefine(`len')len(`x')
define(`len',`mine')len
