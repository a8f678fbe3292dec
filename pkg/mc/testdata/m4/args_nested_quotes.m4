define(`f',`($1)')f(`(')f(`)')f(`,')f(``nested'')
