"""Card actions: the data a card's button sends back, one pydantic model per verb.

`base` holds what every model shares and the parsing; each feature keeps its verbs' models in
its own module here, so that its cards and its dialog agree on one definition.
"""
