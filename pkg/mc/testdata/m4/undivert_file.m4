undivert(`inc_part.inc')undivert(`nofile')
