m4wrap(`len(1,2)__line__ __file__')


end
