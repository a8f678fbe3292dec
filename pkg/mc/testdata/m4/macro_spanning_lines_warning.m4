define(`f',`len($1,x)')f(

a
)
