__gnu__|__unix__|unix|__program__
