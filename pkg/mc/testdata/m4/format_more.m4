format(`%d%%',50)|format(`%.3s',`abcdef')|format(`%5s|%-5s|',x,y)|format(`%c%c',72,105)|format(`%e',`1.5')|format(`%g',`0.0001')
