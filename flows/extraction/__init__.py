"""From a fetched page to an article: trafilatura and its adaptations, the extraction
processes, text cleaning, the raw page archive, re-extraction."""
