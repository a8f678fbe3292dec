changecom(`[',`]')changequote(`[',`]')[a] `b'
