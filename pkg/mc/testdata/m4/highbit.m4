define(`x',`Ã©tÃ©')x Ã©
