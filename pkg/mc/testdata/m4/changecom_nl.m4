changecom(`%')% a
b
