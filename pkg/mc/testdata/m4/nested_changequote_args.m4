define(`f',`changequote(`[',`]')$1')f(`a')[b] `c'
