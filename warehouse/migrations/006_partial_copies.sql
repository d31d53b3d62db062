-- Schema 6: partial copies (a new dedup_status and a containment column), the anchor index that
-- finds their originals, and per-site paragraph counts that tell a site's boilerplate from its
-- articles. DuckDB cannot change a CHECK constraint in place: articles is rebuilt (keys,
-- comments and rows kept; the views are recreated after every migration).
-- The anchor and boilerplate tables start empty: `corpus-monitor dedup rebuild` fills them
-- from the stored history (until then, only articles loaded after the upgrade are indexed).
CREATE TABLE articles_v6 (
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
    CHECK ((dedup_status = 'unique') = (duplicate_of IS NULL)),
    CHECK (dedup_status <> 'partial_copy' OR containment IS NOT NULL)
);
INSERT INTO articles_v6 BY NAME SELECT * FROM articles;
DROP TABLE articles;
ALTER TABLE articles_v6 RENAME TO articles;
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
COMMENT ON COLUMN articles.containment IS 'Share of this article''s word 5-shingles found in duplicate_of, in [0, 1] (NULL when unique); the site''s boilerplate paragraphs left out.';

ALTER TABLE runs ADD COLUMN partial_copies INTEGER NOT NULL DEFAULT 0;
COMMENT ON COLUMN runs.partial_copies IS 'Articles of the run that copy part of an earlier text (dedup_status partial_copy).';

CREATE TABLE dedup_anchors (
    anchor   INTEGER NOT NULL,
    doc_key  INTEGER NOT NULL
);
COMMENT ON TABLE dedup_anchors IS 'Anchors of each original (unique article or seed): its first 48 distinct word 5-shingles whose hash has its top 3 bits zero, so a copy of any part of its first ~400 words shares some. Partial-copy candidates, verified on the text.';
COMMENT ON COLUMN dedup_anchors.anchor IS 'The low 32 bits of the shingle hash, as a signed integer.';

CREATE TABLE dedup_site_units (
    unit_key  BIGINT PRIMARY KEY,
    site      VARCHAR NOT NULL,
    docs      INTEGER NOT NULL
);
COMMENT ON TABLE dedup_site_units IS 'Paragraphs (content lines) per site and the number of documents of the site that hold each: one in dedup.boilerplate_docs or more documents is the site''s boilerplate and counts for nothing in dedup comparisons. Exact duplicates are not counted.';
COMMENT ON COLUMN dedup_site_units.unit_key IS 'BLAKE2b (8 bytes, signed) of the site and the paragraph''s normalised words.';
COMMENT ON COLUMN dedup_site_units.site IS 'The URL''s host without www.';
