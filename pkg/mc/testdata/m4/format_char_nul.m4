format(`A%`B'C%5cD%-3cE|')
format(`%5c|%3c|%c|')
format(`%5c|',0)
