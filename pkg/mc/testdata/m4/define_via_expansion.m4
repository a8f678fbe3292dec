define(`x',`define')x(`y',1)y
define(`a',`len')a(`xyz') a
