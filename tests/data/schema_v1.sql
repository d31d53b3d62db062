-- The warehouse schema as corpus-monitor created it at schema version 1 (warehouse/schema.sql
-- before the first migration), kept to test that replaying every migration gives schema.sql.
-- corpus-monitor warehouse schema (version 1).
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
    error               VARCHAR
);
COMMENT ON TABLE runs IS 'One row per flow run (run_id = the Prefect flow-run id). status: running, completed, failed (an error stopped it), crashed (its process ended without finishing; marked by the next run).';
COMMENT ON COLUMN runs.items_seen IS 'Feed entries read in this run (all feeds, before skipping known URLs).';
COMMENT ON COLUMN runs.new_urls IS 'Entry URLs not ingested before, which this run tried to fetch.';
COMMENT ON COLUMN runs.page_failures IS 'Pages that failed at the page stage (HTTP errors, timeouts, not HTML, too large, blocked).';
COMMENT ON COLUMN runs.extract_failures IS 'Pages fetched but with no article text extracted.';

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
    consecutive_failures  INTEGER NOT NULL DEFAULT 0
);
COMMENT ON TABLE feeds IS 'Every feed polled, with its cursor for conditional GET and its health.';
COMMENT ON COLUMN feeds.etag IS 'ETag of the last successful answer, sent back as If-None-Match.';
COMMENT ON COLUMN feeds.last_modified IS 'Last-Modified of the last successful answer, sent back as If-Modified-Since.';
COMMENT ON COLUMN feeds.state IS 'ok: last poll succeeded; failing: 3 or more polls in a row failed; backing_off: reserved for adaptive polling.';
COMMENT ON COLUMN feeds.last_status IS 'Status of the last poll: ok, not_modified or error.';

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
    PRIMARY KEY (run_id, feed_url)
);
COMMENT ON TABLE feed_polls IS 'One row per feed per run.';
COMMENT ON COLUMN feed_polls.items IS 'Entries with a usable link in the feed.';
COMMENT ON COLUMN feed_polls.new_items IS 'Entries whose URL had not been ingested before.';
COMMENT ON COLUMN feed_polls.error IS 'A documented reason code (dns, timeout, http_503, not_a_feed, malformed_feed, ...).';
COMMENT ON COLUMN feed_polls.detail IS 'Free text: the error, or what feedparser recovered from in a readable feed.';

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
                   CHECK (dedup_status IN ('unique', 'exact_duplicate', 'near_duplicate')),
    duplicate_of   VARCHAR,
    similarity     DOUBLE,
    cluster_id     VARCHAR NOT NULL,
    CHECK ((dedup_status = 'unique') = (duplicate_of IS NULL))
);
COMMENT ON TABLE articles IS 'One row per article URL, with its extracted text and its dedup verdict. Duplicates are kept and flagged.';
COMMENT ON COLUMN articles.article_id IS 'Stable hash of url: the same article has the same id in every run.';
COMMENT ON COLUMN articles.url IS 'Canonical URL after redirects (lower-case scheme and host, no fragment, no tracking parameters).';
COMMENT ON COLUMN articles.published_at IS 'From the page; the feed entry''s date when the page has none.';
COMMENT ON COLUMN articles.language IS 'Primary language subtag (en, de, ...) from the page.';
COMMENT ON COLUMN articles.text IS 'Main text extracted by trafilatura, cleaned (scraped tails removed).';
COMMENT ON COLUMN articles.feed_url IS 'The first feed the article was seen in; article_feeds has them all.';
COMMENT ON COLUMN articles.content_hash IS 'Hash of the normalised text (case, quotes, dashes, whitespace folded): equal hash = exact duplicate.';
COMMENT ON COLUMN articles.dedup_status IS 'unique, exact_duplicate (same normalised text) or near_duplicate (shingle Jaccard >= threshold).';
COMMENT ON COLUMN articles.duplicate_of IS 'The earliest original: an article_id, or ''seed:<seed_id>''. NULL when unique.';
COMMENT ON COLUMN articles.cluster_id IS 'The story: the earliest original''s id (an article_id or ''seed:<id>''); a unique article is its own cluster. count(DISTINCT cluster_id) counts stories.';
COMMENT ON COLUMN articles.similarity IS 'Jaccard similarity of word 5-shingles with duplicate_of, in [0, 1].';

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
    content_hash   VARCHAR NOT NULL,
    root_id        VARCHAR NOT NULL,
    first_seen_at  TIMESTAMPTZ NOT NULL,
    minhash        BLOB NOT NULL
);
COMMENT ON TABLE dedup_signatures IS 'The dedup index: one row per article or seed (doc_id = article_id or ''seed:<id>'').';
COMMENT ON COLUMN dedup_signatures.root_id IS 'The earliest original of the document''s story (itself when unique).';
COMMENT ON COLUMN dedup_signatures.minhash IS 'MinHash signature (num_perm little-endian uint32).';

CREATE TABLE IF NOT EXISTS dedup_bands (
    band      USMALLINT NOT NULL,
    band_key  BIGINT NOT NULL,
    doc_id    VARCHAR NOT NULL
);
COMMENT ON TABLE dedup_bands IS 'LSH band keys of each signature: documents sharing a (band, band_key) are near-duplicate candidates.';
