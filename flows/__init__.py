"""corpus-monitor: a workflow-orchestrated news corpus monitoring pipeline."""

__version__ = "0.1.0"
