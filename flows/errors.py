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

    def __init__(
        self,
        reason: str,
        detail: str,
        *,
        retry_after: float | None = None,
        stage: str | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after  # seconds the server asked to wait (429/503)
        self.stage = stage  # robots: refused by robots.txt rather than by the page itself

    def __reduce__(self) -> tuple[type[FetchError], tuple[str, str], dict[str, object]]:
        # rebuilt from its fields when an extraction worker returns it to the flow process
        return type(self), (self.reason, self.detail), self.__dict__


# Documented failure reasons, stored in fetch_errors.reason and feed_polls.error.
REASONS: dict[str, str] = {
    "dns": "the host name does not resolve",
    "refused": "the connection was refused or reset",
    "timeout": "connect, read or total time limit exceeded (a server that drips bytes included)",
    "http_<code>": "the server answered with an HTTP error status (http_404, http_500, ...)",
    "too_large": "the response is larger than the byte cap (counted after decompression)",
    "bad_encoding": "the compressed body is corrupt, or in an encoding that was not asked for",
    "rate_limited": "the host asked for a pause longer than network.max_retry_after_seconds",
    "not_html": "a page link answered with something that is not HTML (PDF, image, ...)",
    "not_a_feed": "a feed URL answered with something that is not RSS/Atom",
    "malformed_feed": "the feed is ill-formed beyond recovery (no entries could be read)",
    "blocked_address": "the host resolves to a private/loopback/link-local/reserved address",
    "bad_url": "the URL is not http(s), has credentials in it or cannot be parsed",
    "too_many_redirects": "more redirects than allowed",
    "network": "another transport error (TLS, protocol)",
    "robots_disallowed": "the site's robots.txt forbids the page (stage robots)",
    "robots_unavailable": "robots.txt answered 5xx or could not be reached: nothing is fetched "
    "from the site until it can (stage robots)",
    "empty_extraction": "no main text could be extracted from the page",
    "quarantined": "the article failed a data-quality expectation: it is in the quarantine table",
}
