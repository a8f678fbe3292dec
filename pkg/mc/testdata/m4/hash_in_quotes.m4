`#not comment' define(`x',`y') x
