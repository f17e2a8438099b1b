"""Benchmarks: `bench` (python -m sentiment bench), the app's load test and latency, and the reports built from their output."""
