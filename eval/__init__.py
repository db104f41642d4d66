"""Evaluations, not tests: run them with eval/run (see eval/README.md)."""
