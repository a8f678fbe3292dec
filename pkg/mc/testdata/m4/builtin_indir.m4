builtin(`define',`x',`y')x indir(`x') indir(`nomacro') builtin(`nobuiltin')
