index(`hello',`l') index(`hello',`z') index(`hello',`') index(`',`') index(`a')
