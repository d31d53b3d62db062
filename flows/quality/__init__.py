"""Great Expectations gates on every batch and run, quarantine, and offline Data Docs."""
