format(`[%c]', `')
format(`%hhd|%ld|%lu|%lx|%hu|%d|%lc|%ls|%lf|%hf|%Lf', 300, 70000000000, -1, -1, -1, 70000000000, 65, `str', `1.5', `2.5', `3.5')
format(`%p|%n|%5%|%-%|%j', 1)
format(`%d', `0x10')|format(`%d', `010')|format(`%d', `-')|format(`%d', `+7')
