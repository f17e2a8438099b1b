"""Serving a trained model: the Predictor (raw text to probabilities) and the TF Serving export."""
