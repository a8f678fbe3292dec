errprint(__file__:__line__
)
