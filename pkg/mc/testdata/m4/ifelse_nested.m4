ifelse(ifelse(a,a,b,c),b,`nested ok',`bad')
