define(`a')ifdef(`a',yes,no) ifdef(`b',yes,no) ifdef(`b',yes) ifdef(`a')
ifdef(`a',1,2,3)
