sinclude(`.')include(`')x
