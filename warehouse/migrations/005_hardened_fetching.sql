-- Schema 5: feed backoff and validator checks, entries held for a later run, the raw page archive.
ALTER TABLE runs ADD COLUMN pages_deferred INTEGER NOT NULL DEFAULT 0;
COMMENT ON COLUMN runs.pages_deferred IS 'New URLs over network.max_pages_per_run, left in pending_items for the next runs.';

ALTER TABLE runs ADD COLUMN stage_seconds JSON;
COMMENT ON COLUMN runs.stage_seconds IS 'Where the run''s time went: {"seconds": total, "phases": {seeds, poll, select, pages, gates: wall seconds}, "page_stages": {fetch, extract, dedup_and_load: busy seconds, overlapping}}.';

ALTER TABLE feeds ADD COLUMN next_poll_at TIMESTAMPTZ;
ALTER TABLE feeds ADD COLUMN last_unconditional_at TIMESTAMPTZ;
ALTER TABLE feeds ADD COLUMN validators_unreliable BOOLEAN NOT NULL DEFAULT false;
COMMENT ON COLUMN feeds.state IS 'ok: last poll succeeded; backing_off: failed lately, polled again at next_poll_at; failing: network.failing_after polls in a row failed (still polled, at most every network.max_backoff).';
COMMENT ON COLUMN feeds.next_poll_at IS 'Earliest time a scheduled run (run --due-only) polls the feed again: exponential backoff after failures, or the server''s Retry-After. NULL: the feed''s own interval.';
COMMENT ON COLUMN feeds.last_unconditional_at IS 'When the feed was last fetched without If-None-Match / If-Modified-Since (every network.unconditional_every).';
COMMENT ON COLUMN feeds.validators_unreliable IS 'True when an unconditional fetch found entries that the server had hidden behind 304 or an unchanged ETag: the feed is then always fetched unconditionally.';

ALTER TABLE feed_polls ADD COLUMN conditional BOOLEAN;
ALTER TABLE feed_polls ADD COLUMN entries_dropped INTEGER NOT NULL DEFAULT 0;
COMMENT ON COLUMN feed_polls.conditional IS 'Whether the request carried the stored validators (ETag / Last-Modified).';
COMMENT ON COLUMN feed_polls.entries_dropped IS 'Entries beyond network.max_entries_per_feed (the newest are kept), recorded and not fetched.';

CREATE TABLE pending_items (
    url           VARCHAR PRIMARY KEY,
    feed_url      VARCHAR NOT NULL,
    entry_url     VARCHAR NOT NULL,
    title         VARCHAR,
    author        VARCHAR,
    published_at  TIMESTAMPTZ,
    summary       VARCHAR,
    queued_at     TIMESTAMPTZ NOT NULL,
    run_id        VARCHAR NOT NULL
);
COMMENT ON TABLE pending_items IS 'Feed entries left for a later run by network.max_pages_per_run: written with the feed cursors that passed them, fetched (oldest first) before new entries by the next runs.';

CREATE TABLE raw_pages (
    url                 VARCHAR PRIMARY KEY,
    article_id          VARCHAR,
    sha256              VARCHAR NOT NULL,
    bytes               BIGINT NOT NULL,
    content_type        VARCHAR,
    charset             VARCHAR,
    fetched_at          TIMESTAMPTZ NOT NULL,
    run_id              VARCHAR NOT NULL,
    feed_url            VARCHAR,
    entry_url           VARCHAR,
    entry_title         VARCHAR,
    entry_author        VARCHAR,
    entry_published_at  TIMESTAMPTZ
);
COMMENT ON TABLE raw_pages IS 'The raw page archive: one row per fetched page; its bytes are gzip files named by sha256 in the archive folder (retention.raw_dir), so `corpus-monitor reextract` runs without a request. Pruned after retention.raw_days.';
COMMENT ON COLUMN raw_pages.url IS 'The canonical URL the page was fetched from (after redirects).';
COMMENT ON COLUMN raw_pages.sha256 IS 'SHA-256 of the raw bytes: the file is <raw_dir>/<sha256[0:2]>/<sha256>.gz.';
COMMENT ON COLUMN raw_pages.article_id IS 'The article the page became; NULL when it yielded no article text (empty_extraction) or was held in quarantine.';
COMMENT ON COLUMN raw_pages.bytes IS 'Size of the raw bytes (the file holds them gzip-compressed).';
COMMENT ON COLUMN raw_pages.charset IS 'The charset the server declared, if any (extraction falls back to the page''s own).';
COMMENT ON COLUMN raw_pages.fetched_at IS 'When the page was fetched; retention.raw_days counts from here.';
COMMENT ON COLUMN raw_pages.entry_url IS 'The feed entry that led to the page (in feed_url): its title, author and date fill what the page lacks when the page is extracted again.';
