define(`a',`b')ifelse(a,b,`equal',`diff')|ifelse(`a',b,`equal',`diff')
