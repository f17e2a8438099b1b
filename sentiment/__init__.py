"""Why LSTMs replaced plain RNNs, measured on IMDB with real trained models.

Modules, one per pipeline stage: config, data, models, training (train,
the loop), evaluate, io (artifacts), serving (export, predict), report, and
the measurements in analysis; `python -m sentiment` is the CLI.
Importing the package imports nothing heavy.
"""
