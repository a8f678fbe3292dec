index(`hÃ©llo',`l')|len(`Ã©')|substr(`Ã©tÃ©',1,2)
