-- corpus-monitor warehouse schema (the current version: see schema_info).
-- Applied to a new DuckDB file on first use; later versions migrate an existing file with
-- warehouse/migrations/NNN_*.sql. Times are TIMESTAMPTZ in UTC.

CREATE TABLE IF NOT EXISTS schema_info (
    version     INTEGER NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE schema_info IS 'Schema versions applied to this file, newest last.';

CREATE TABLE IF NOT EXISTS runs (
    run_id              VARCHAR PRIMARY KEY,
    flow_run_name       VARCHAR,
    started_at          TIMESTAMPTZ NOT NULL,
    finished_at         TIMESTAMPTZ,
    status              VARCHAR NOT NULL
                        CHECK (status IN ('running', 'completed', 'failed', 'crashed')),
    feeds_polled        INTEGER NOT NULL DEFAULT 0,
    feeds_not_modified  INTEGER NOT NULL DEFAULT 0,
    feeds_failed        INTEGER NOT NULL DEFAULT 0,
    items_seen          INTEGER NOT NULL DEFAULT 0,
    new_urls            INTEGER NOT NULL DEFAULT 0,
    pages_fetched       INTEGER NOT NULL DEFAULT 0,
    page_failures       INTEGER NOT NULL DEFAULT 0,
    extract_failures    INTEGER NOT NULL DEFAULT 0,
    articles_new        INTEGER NOT NULL DEFAULT 0,
    unique_articles     INTEGER NOT NULL DEFAULT 0,
    exact_duplicates    INTEGER NOT NULL DEFAULT 0,
    near_duplicates     INTEGER NOT NULL DEFAULT 0,
    partial_copies      INTEGER NOT NULL DEFAULT 0,
    quarantined         INTEGER NOT NULL DEFAULT 0,
    pages_deferred      INTEGER NOT NULL DEFAULT 0,
    stage_seconds       JSON,
    error               VARCHAR
);
COMMENT ON TABLE runs IS 'One row per flow run (run_id = the Prefect flow-run id). status: running, completed, failed (an error stopped it), crashed (its process ended without finishing; marked by the next run).';
COMMENT ON COLUMN runs.items_seen IS 'Feed entries read in this run (all feeds, before skipping known URLs).';
COMMENT ON COLUMN runs.new_urls IS 'Entry URLs not ingested before, which this run tried to fetch.';
COMMENT ON COLUMN runs.page_failures IS 'Pages that failed at the page stage (HTTP errors, timeouts, not HTML, too large, blocked).';
COMMENT ON COLUMN runs.extract_failures IS 'Pages fetched but with no article text extracted.';
COMMENT ON COLUMN runs.stage_seconds IS 'Where the run''s time went: {"seconds": total, "phases": {seeds, poll, select, pages, gates: wall seconds}, "page_stages": {fetch, extract, dedup_and_load: busy seconds, overlapping}}.';
COMMENT ON COLUMN runs.pages_deferred IS 'New URLs over network.max_pages_per_run, left in pending_items for the next runs.';
COMMENT ON COLUMN runs.partial_copies IS 'Articles of the run that copy part of an earlier text (dedup_status partial_copy).';
COMMENT ON COLUMN runs.quarantined IS 'Articles held back in quarantine by a row-level data-quality expectation.';

CREATE TABLE IF NOT EXISTS seeds (
    seed_id       VARCHAR PRIMARY KEY,
    title         VARCHAR,
    language      VARCHAR,
    origin        VARCHAR,
    text          VARCHAR NOT NULL,
    content_hash  VARCHAR NOT NULL,
    file_sha256   VARCHAR NOT NULL,
    loaded_at     TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE seeds IS 'The seed corpus: documents every article is compared with. duplicate_of = ''seed:<seed_id>'' points here.';
COMMENT ON COLUMN seeds.seed_id IS 'File stem of the seed''s .txt file.';
COMMENT ON COLUMN seeds.text IS 'Cleaned exactly like an extracted article (scraped tails and repeated title removed).';
COMMENT ON COLUMN seeds.file_sha256 IS 'Hash of the file bytes, so a changed seed is reloaded.';

CREATE TABLE IF NOT EXISTS feeds (
    url                   VARCHAR PRIMARY KEY,
    name                  VARCHAR,
    etag                  VARCHAR,
    last_modified         VARCHAR,
    state                 VARCHAR NOT NULL DEFAULT 'ok'
                          CHECK (state IN ('ok', 'backing_off', 'failing')),
    last_status           VARCHAR,
    last_error            VARCHAR,
    last_polled_at        TIMESTAMPTZ,
    last_success_at       TIMESTAMPTZ,
    consecutive_failures  INTEGER NOT NULL DEFAULT 0,
    next_poll_at          TIMESTAMPTZ,
    last_unconditional_at TIMESTAMPTZ,
    validators_unreliable BOOLEAN NOT NULL DEFAULT false,
    ttl_seconds           INTEGER
);
COMMENT ON TABLE feeds IS 'Every feed polled, with its cursor for conditional GET and its health.';
COMMENT ON COLUMN feeds.etag IS 'ETag of the last successful answer, sent back as If-None-Match.';
COMMENT ON COLUMN feeds.last_modified IS 'Last-Modified of the last successful answer, sent back as If-Modified-Since.';
COMMENT ON COLUMN feeds.last_status IS 'Status of the last poll: ok, not_modified or error.';
COMMENT ON COLUMN feeds.state IS 'ok: last poll succeeded; backing_off: failed lately, polled again at next_poll_at; failing: network.failing_after polls in a row failed (still polled, at most every network.max_backoff).';
COMMENT ON COLUMN feeds.next_poll_at IS 'Earliest time a scheduled run (run --due-only) polls the feed again: exponential backoff after failures, or the server''s Retry-After. NULL: the feed''s own interval.';
COMMENT ON COLUMN feeds.last_unconditional_at IS 'When the feed was last fetched without If-None-Match / If-Modified-Since (every network.unconditional_every).';
COMMENT ON COLUMN feeds.ttl_seconds IS 'The shortest interval the feed asks for (RSS <ttl>, sy:updatePeriod / sy:updateFrequency), from its last successful poll; adaptive polling never goes below it.';
COMMENT ON COLUMN feeds.validators_unreliable IS 'True when an unconditional fetch found entries that the server had hidden behind 304 or an unchanged ETag: the feed is then always fetched unconditionally.';

CREATE TABLE IF NOT EXISTS feed_polls (
    run_id       VARCHAR NOT NULL,
    feed_url     VARCHAR NOT NULL,
    polled_at    TIMESTAMPTZ NOT NULL,
    status       VARCHAR NOT NULL CHECK (status IN ('ok', 'not_modified', 'error')),
    http_status  INTEGER,
    items        INTEGER NOT NULL,
    new_items    INTEGER NOT NULL,
    error        VARCHAR,
    detail       VARCHAR,
    seconds      DOUBLE,
    conditional  BOOLEAN,
    entries_dropped INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, feed_url)
);
COMMENT ON TABLE feed_polls IS 'One row per feed per run.';
COMMENT ON COLUMN feed_polls.items IS 'Entries with a usable link in the feed.';
COMMENT ON COLUMN feed_polls.new_items IS 'Entries whose URL had not been ingested before.';
COMMENT ON COLUMN feed_polls.error IS 'A documented reason code (dns, timeout, http_503, not_a_feed, malformed_feed, ...).';
COMMENT ON COLUMN feed_polls.detail IS 'Free text: the error, or what feedparser recovered from in a readable feed.';
COMMENT ON COLUMN feed_polls.conditional IS 'Whether the request carried the stored validators (ETag / Last-Modified).';
COMMENT ON COLUMN feed_polls.entries_dropped IS 'Entries beyond network.max_entries_per_feed (the newest are kept), recorded and not fetched.';

CREATE TABLE IF NOT EXISTS feed_registry (
    url         VARCHAR PRIMARY KEY,
    name        VARCHAR,
    group_name  VARCHAR,
    every       INTEGER CHECK (every > 0),
    source      VARCHAR NOT NULL CHECK (source IN ('cli', 'opml')),
    added_at    TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE feed_registry IS 'Feeds added with `corpus-monitor feeds add` or `feeds import` (OPML), polled alongside the config''s [[feeds]]; a config feed with the same URL wins.';
COMMENT ON COLUMN feed_registry.group_name IS 'The feed''s group (an OPML folder; nested folders joined with " / "): feed_groups.name.';
COMMENT ON COLUMN feed_registry.every IS 'Seconds between polls in scheduled runs; NULL: the group''s, else adaptive.';
COMMENT ON COLUMN feed_registry.source IS 'How it was added: cli (feeds add) or opml (feeds import).';

CREATE TABLE IF NOT EXISTS feed_groups (
    name        VARCHAR PRIMARY KEY,
    every       INTEGER CHECK (every > 0),
    topics      VARCHAR[],
    created_at  TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE feed_groups IS 'Feed groups of the registry (OPML folders); a [groups.NAME] table in the config with the same name wins.';
COMMENT ON COLUMN feed_groups.every IS 'Seconds between polls of the group''s feeds; NULL: adaptive.';
COMMENT ON COLUMN feed_groups.topics IS 'Only these topics are matched in the articles of the group''s feeds; NULL: all topics.';

CREATE TABLE IF NOT EXISTS feed_entries (
    feed_url       VARCHAR NOT NULL,
    url            VARCHAR NOT NULL,
    published_at   TIMESTAMPTZ,
    first_seen_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (feed_url, url)
);
COMMENT ON TABLE feed_entries IS 'Every entry a feed has listed (canonical URL), with its date: how often the feed publishes, for adaptive polling. Written with the feed''s poll.';
COMMENT ON COLUMN feed_entries.first_seen_at IS 'The poll that first listed the entry (stands in for the date of an undated entry).';

CREATE TABLE IF NOT EXISTS articles (
    article_id     VARCHAR PRIMARY KEY,
    url            VARCHAR NOT NULL UNIQUE,
    title          VARCHAR,
    author         VARCHAR,
    published_at   TIMESTAMPTZ,
    language       VARCHAR,
    site_name      VARCHAR,
    text           VARCHAR NOT NULL,
    feed_url       VARCHAR NOT NULL,
    first_seen_at  TIMESTAMPTZ NOT NULL,
    run_id         VARCHAR NOT NULL,
    content_hash   VARCHAR NOT NULL,
    dedup_status   VARCHAR NOT NULL
                   CHECK (dedup_status IN ('unique', 'exact_duplicate', 'near_duplicate',
                                           'partial_copy')),
    duplicate_of   VARCHAR,
    similarity     DOUBLE,
    containment    DOUBLE CHECK (containment BETWEEN 0 AND 1),
    cluster_id     VARCHAR NOT NULL,
    text_chars     INTEGER,
    CHECK ((dedup_status = 'unique') = (duplicate_of IS NULL)),
    CHECK (dedup_status <> 'partial_copy' OR containment IS NOT NULL)
);
COMMENT ON TABLE articles IS 'One row per article URL, with its extracted text and its dedup verdict. Duplicates are kept and flagged.';
COMMENT ON COLUMN articles.article_id IS 'Stable hash of url: the same article has the same id in every run.';
COMMENT ON COLUMN articles.url IS 'Canonical URL after redirects (lower-case scheme and host, no fragment, no tracking parameters).';
COMMENT ON COLUMN articles.published_at IS 'From the page; the feed entry''s date when the page has none.';
COMMENT ON COLUMN articles.language IS 'Primary language subtag (en, de, ...) from the page.';
COMMENT ON COLUMN articles.text IS 'Main text extracted by trafilatura, cleaned (scraped tails removed).';
COMMENT ON COLUMN articles.feed_url IS 'The first feed the article was seen in; article_feeds has them all.';
COMMENT ON COLUMN articles.content_hash IS 'Hash of the normalised text (case, quotes, dashes, whitespace folded): equal hash = exact duplicate.';
COMMENT ON COLUMN articles.dedup_status IS 'unique; exact_duplicate (same normalised text); near_duplicate (shingle Jaccard >= dedup.threshold: a whole copy, rewritten, cut or added to); partial_copy (containment >= dedup.containment in one stretch of an earlier text: an excerpt, a truncated page).';
COMMENT ON COLUMN articles.duplicate_of IS 'The earliest original: an article_id, or ''seed:<seed_id>''. NULL when unique.';
COMMENT ON COLUMN articles.cluster_id IS 'The story: the earliest original''s id (an article_id or ''seed:<id>''); a unique article is its own cluster. count(DISTINCT cluster_id) counts stories.';
COMMENT ON COLUMN articles.similarity IS 'Jaccard similarity of word 5-shingles with duplicate_of, in [0, 1]; the site''s boilerplate paragraphs left out.';
COMMENT ON COLUMN articles.text_chars IS 'length(text), written with it: checks over the history read this column, not the texts.';
COMMENT ON COLUMN articles.containment IS 'Share of this article''s word 5-shingles found in duplicate_of, in [0, 1] (NULL when unique); the site''s boilerplate paragraphs left out.';


CREATE TABLE IF NOT EXISTS article_feeds (
    article_id  VARCHAR NOT NULL,
    feed_url    VARCHAR NOT NULL,
    entry_url   VARCHAR NOT NULL,
    seen_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (article_id, feed_url)
);
COMMENT ON TABLE article_feeds IS 'Every feed an article appeared in, with the link as that feed wrote it.';

CREATE TABLE IF NOT EXISTS seen_urls (
    url              VARCHAR PRIMARY KEY,
    article_id       VARCHAR,
    status           VARCHAR NOT NULL CHECK (status IN ('article', 'failed')),
    attempts         INTEGER NOT NULL,
    last_reason      VARCHAR,
    first_seen_at    TIMESTAMPTZ NOT NULL,
    last_attempt_at  TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE seen_urls IS 'Every canonical URL the pipeline has tried (feed links and redirect targets), so a rerun fetches nothing twice.';
COMMENT ON COLUMN seen_urls.status IS 'article: ingested (article_id set); failed: last attempt failed (last_reason).';
COMMENT ON COLUMN seen_urls.attempts IS 'Failed URLs with a transient reason (timeout, refused, dns, http_5xx, http_429) are retried until pipeline.retry_failed_pages attempts.';

CREATE TABLE IF NOT EXISTS fetch_errors (
    run_id    VARCHAR NOT NULL,
    url       VARCHAR NOT NULL,
    feed_url  VARCHAR,
    stage     VARCHAR NOT NULL CHECK (stage IN ('feed', 'page', 'robots', 'extract')),
    reason    VARCHAR NOT NULL,
    detail    VARCHAR,
    "at"      TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE fetch_errors IS 'Every failed feed or page, with its stage and a documented reason code; the run goes on.';
COMMENT ON COLUMN fetch_errors."at" IS 'When the failure happened (AT is a keyword in DuckDB: write "at" in quotes).';
COMMENT ON COLUMN fetch_errors.reason IS 'dns, refused, timeout, http_<code>, too_large, not_html, not_a_feed, malformed_feed, blocked_address, bad_url, too_many_redirects, network, robots_disallowed, empty_extraction.';

CREATE TABLE IF NOT EXISTS article_topics (
    article_id  VARCHAR NOT NULL,
    topic       VARCHAR NOT NULL,
    mentions    INTEGER NOT NULL CHECK (mentions > 0),
    PRIMARY KEY (article_id, topic)
);
COMMENT ON TABLE article_topics IS 'Topic mentions per article, counted at load time on word boundaries (title and text).';

CREATE TABLE IF NOT EXISTS article_topic_pairs (
    article_id          VARCHAR NOT NULL,
    topic_a             VARCHAR NOT NULL,
    topic_b             VARCHAR NOT NULL,
    sentences_together  INTEGER NOT NULL,
    PRIMARY KEY (article_id, topic_a, topic_b),
    CHECK (topic_a < topic_b)
);
COMMENT ON TABLE article_topic_pairs IS 'Two topics in one article; sentences_together counts sentences that mention both.';

CREATE TABLE IF NOT EXISTS dedup_signatures (
    doc_id         VARCHAR PRIMARY KEY,
    doc_key        INTEGER NOT NULL,
    content_hash   VARCHAR NOT NULL,
    root_id        VARCHAR NOT NULL,
    first_seen_at  TIMESTAMPTZ NOT NULL,
    minhash        BLOB NOT NULL
);
COMMENT ON TABLE dedup_signatures IS 'The dedup index: one row per article or seed (doc_id = article_id or ''seed:<id>'').';
COMMENT ON COLUMN dedup_signatures.doc_key IS 'A small integer for the document, used by dedup_lsh (assigned in load order).';
COMMENT ON COLUMN dedup_signatures.root_id IS 'The earliest original of the document''s story (itself when unique).';
COMMENT ON COLUMN dedup_signatures.minhash IS 'MinHash signature (num_perm little-endian uint32).';

CREATE TABLE IF NOT EXISTS dedup_lsh (
    band_key  INTEGER NOT NULL,
    doc_key   INTEGER NOT NULL
);
COMMENT ON TABLE dedup_lsh IS 'LSH band keys of each signature (one row per band): documents sharing a (band, band_key) are near-duplicate candidates, verified on their text before anything is flagged.';
COMMENT ON COLUMN dedup_lsh.band_key IS 'Band b: the first 4 bytes of BLAKE2b over the band''s signature values (little-endian), XOR (b + 1) * 0x9E3779B1 mod 2^32, as a signed integer.';

CREATE TABLE IF NOT EXISTS dedup_anchors (
    anchor   INTEGER NOT NULL,
    doc_key  INTEGER NOT NULL
);
COMMENT ON TABLE dedup_anchors IS 'Anchors of each original (unique article or seed): its first 48 distinct word 5-shingles whose hash has its top 3 bits zero, so a copy of any part of its first ~400 words shares some. Partial-copy candidates, verified on the text.';
COMMENT ON COLUMN dedup_anchors.anchor IS 'The low 32 bits of the shingle hash, as a signed integer.';

CREATE TABLE IF NOT EXISTS dedup_site_units (
    unit_key  BIGINT PRIMARY KEY,
    site      VARCHAR NOT NULL,
    docs      INTEGER NOT NULL
);
COMMENT ON TABLE dedup_site_units IS 'Paragraphs (content lines) per site and the number of documents of the site that hold each: one in dedup.boilerplate_docs or more documents is the site''s boilerplate and counts for nothing in dedup comparisons. Exact duplicates are not counted.';
COMMENT ON COLUMN dedup_site_units.unit_key IS 'BLAKE2b (8 bytes, signed) of the site and the paragraph''s normalised words.';
COMMENT ON COLUMN dedup_site_units.site IS 'The URL''s host without www.';

CREATE TABLE IF NOT EXISTS quarantine (
    quarantine_id   VARCHAR PRIMARY KEY,
    run_id          VARCHAR NOT NULL,
    article_id      VARCHAR NOT NULL,
    url             VARCHAR NOT NULL,
    feed_url        VARCHAR,
    suite           VARCHAR NOT NULL,
    expectation     VARCHAR NOT NULL,
    field           VARCHAR,
    value           VARCHAR,
    failures        JSON NOT NULL,
    record          JSON NOT NULL,
    quarantined_at  TIMESTAMPTZ NOT NULL,
    released_at     TIMESTAMPTZ,
    released_run    VARCHAR
);
COMMENT ON TABLE quarantine IS 'Articles held back by a row-level data-quality expectation: kept whole, never loaded into articles until released.';
COMMENT ON COLUMN quarantine.quarantine_id IS 'BLAKE2b of run_id and url (hex, 16 characters).';
COMMENT ON COLUMN quarantine.expectation IS 'The first expectation the row failed (GX type), e.g. expect_column_value_lengths_to_be_between.';
COMMENT ON COLUMN quarantine.field IS 'The column that expectation checks.';
COMMENT ON COLUMN quarantine.value IS 'The offending value, as text (long values cut at 200 characters).';
COMMENT ON COLUMN quarantine.failures IS 'Every expectation the row failed: [{"expectation", "field", "value"}].';
COMMENT ON COLUMN quarantine.record IS 'The article as it would have been loaded (text, metadata, feed), so a release loses nothing.';
COMMENT ON COLUMN quarantine.released_at IS 'When `corpus-monitor quarantine release` re-validated and loaded it (NULL: still held).';

CREATE TABLE IF NOT EXISTS dq_results (
    run_id            VARCHAR NOT NULL,
    batch             INTEGER,
    suite             VARCHAR NOT NULL,
    expectation       VARCHAR NOT NULL,
    field             VARCHAR,
    success           BOOLEAN NOT NULL,
    unexpected_count  BIGINT,
    element_count     BIGINT,
    observed_value    VARCHAR,
    severity          VARCHAR NOT NULL CHECK (severity IN ('quarantine', 'warn', 'fail')),
    validated_at      TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE dq_results IS 'One row per expectation per validation: the article suite per batch (batch = its number), the feed-health and integrity suites once per run (batch NULL).';
COMMENT ON COLUMN dq_results.severity IS 'What a failure does: quarantine (row-level: the failing rows are held back), warn (shown in the run summary), fail (fails the run).';

CREATE TABLE IF NOT EXISTS pending_items (
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

CREATE TABLE IF NOT EXISTS raw_pages (
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
