"""Files: atomic writes, the artifact folder with its manifest, and provenance.

Depends on `sentiment.config` and `sentiment.errors` only.
"""
