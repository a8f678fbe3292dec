define(`c',`# hidden `x'')c
after
define(`w',`ab')w#c
