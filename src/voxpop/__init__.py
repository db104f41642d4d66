"""voxpop: a self-hosted reader-engagement server for news sites."""

__version__ = "0.1.0"
