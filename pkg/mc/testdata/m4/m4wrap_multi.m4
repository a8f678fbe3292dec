m4wrap(`3',`4')m4wrap(`nested m4wrap(`inner')')x
