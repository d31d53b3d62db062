"""One exception hierarchy for the project; every message names the input that was wrong."""

from __future__ import annotations


class CorpusMonitorError(Exception):
    """Base class of every error corpus-monitor raises on purpose."""

    exit_code = 1


class ConfigError(CorpusMonitorError):
    """The configuration file is missing or invalid (exit code 2)."""

    exit_code = 2


class WarehouseBusy(CorpusMonitorError):
    """Another process holds the DuckDB file (exit code 3)."""

    exit_code = 3


class WarehouseError(CorpusMonitorError):
    """The warehouse file cannot be used (wrong version, corrupt, a failed query)."""


class FetchError(CorpusMonitorError):
    """A feed or page could not be fetched or used.

    ``reason`` is one of the documented codes in :data:`REASONS`; ``detail`` is free text.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# Documented failure reasons, stored in fetch_errors.reason and feed_polls.error.
REASONS: dict[str, str] = {
    "dns": "the host name does not resolve",
    "refused": "the connection was refused or reset",
    "timeout": "connect, read or total time limit exceeded",
    "http_<code>": "the server answered with an HTTP error status (http_404, http_500, ...)",
    "too_large": "the response is larger than the byte cap",
    "not_html": "a page link answered with something that is not HTML (PDF, image, ...)",
    "not_a_feed": "a feed URL answered with something that is not RSS/Atom",
    "malformed_feed": "the feed is ill-formed beyond recovery (no entries could be read)",
    "blocked_address": "the host resolves to a private/loopback/reserved address",
    "bad_url": "the URL is not http(s) or cannot be parsed",
    "too_many_redirects": "more redirects than allowed",
    "network": "another transport error (TLS, protocol)",
    # stage robots; reserved: robots.txt is not consulted yet
    "robots_disallowed": "robots.txt forbids the page",
    "empty_extraction": "no main text could be extracted from the page",
    "quarantined": "the article failed a data-quality expectation: it is in the quarantine table",
}
