format(`%s-%d-%5.2f-%x-%c-%%-%*d', `a', 12, 3.14159, 255, 65, 4, 7)|format(`%-5s|%05d|%+d|%o|%X', `ab', 42, 3, 8, 255)|format(`plain')
