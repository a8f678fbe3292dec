a
divert(1)div
divert(0)m4wrap(`wrapped')m4exit
not reached
