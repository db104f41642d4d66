"""Anchoring inline feedback to passages of an article's text (pure, no I/O)."""
