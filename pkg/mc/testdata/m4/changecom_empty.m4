changecom(`')# z define(`q',r)q
