"""Training: one loop (`loop`) for every strategy (`distribute`), checkpoints and resume (`train`).

Depends on data, models, io, evaluate and report; never on analysis, the app
or the benchmarks.
"""
