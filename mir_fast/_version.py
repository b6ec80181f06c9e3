"""The version of mir_fast, below every other module so that any of them may read it."""

__version__ = "0.1.0"
