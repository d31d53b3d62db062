"""Exact, near and partial copies: signatures and decisions, the seed corpus, rebuilding
the index."""
