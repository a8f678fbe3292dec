m4wrap(`first ')m4wrap(`second ')main
