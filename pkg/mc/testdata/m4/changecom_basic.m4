# comment define(`a') a
a
changecom(`/*',`*/')/* a */ # a
