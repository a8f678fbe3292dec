changecom(`/*',`*/')/* a
b
c */__line__
