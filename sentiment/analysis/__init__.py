"""Measurements on trained (or freshly trained) models: the thesis, and the pages that report it.

`longrange` (variable-lag recall, the adding problem, the lag shift),
`jacobians` (state Jacobians), `distance` (sentiment at a distance),
`gradients` (what a trained model's decision depends on), `bench`
(throughput, latency and the sequential cost), `plots` and `pages`
(docs/RESULTS.md). Analyses import the pipeline; nothing in the
pipeline imports them.
"""
