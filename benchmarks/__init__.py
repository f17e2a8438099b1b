"""Benchmarks: `bench`, the app's load test and latency, and their reports.

`bench` is `python -m sentiment bench`; the reports are built from the
benchmarks' output.
"""
