define(`outer',`define(`inner',`$1')')outer(val)inner
