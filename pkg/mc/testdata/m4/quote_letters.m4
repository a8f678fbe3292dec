changequote(`aq',`bq')aqxbq define(`aq',`AQ')aq
changequote`'changecom(`rem')rem this
x
