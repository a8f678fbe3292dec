changequote(`<<',`>>')<<<a>>>
<<x<<y>>z>>
changequote(`[[',`]')[[a]]]
