ab#cd
define(`ab',`AB')ab#ab
