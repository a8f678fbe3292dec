define(`g',`g(g)')g
