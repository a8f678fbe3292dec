m4wrap(`define(`x',')a
