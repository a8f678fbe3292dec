define(`a',1)a undefine(`a')a undefine(`nope', `a')
undefine
