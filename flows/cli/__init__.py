"""The corpus-monitor command line."""
