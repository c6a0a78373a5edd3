"""grokdash: track Grok video generation tasks until their videos are safe on disk."""

__version__ = "0.1.0"
