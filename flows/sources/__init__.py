"""Where articles come from: the safe HTTP client, feeds, sitemaps, OPML, discovery,
URLs, cadence and the feed registry."""
