"""Why LSTMs replaced plain RNNs, measured on IMDB with real trained models.

Modules, one per pipeline stage: config, data, models, train, evaluate,
artifacts, export, predict, report; `python -m sentiment` is the CLI.
Importing the package imports nothing heavy.
"""
