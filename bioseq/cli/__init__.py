"""Thin click commands over the Python API; see ``bioseq --help``."""
