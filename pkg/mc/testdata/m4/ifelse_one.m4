ifelse(`x')ifelse()done
