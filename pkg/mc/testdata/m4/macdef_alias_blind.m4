define(`mylen',defn(`len'))mylen mylen(`abc')
pushdef(`len',`user')len popdef(`len')len(`ab')
