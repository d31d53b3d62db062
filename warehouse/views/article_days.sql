-- Articles with their source (the URL's host without www.) and their UTC day:
-- the base that topic analytics group by.
CREATE OR REPLACE VIEW article_days AS
SELECT
    a.article_id,
    regexp_replace(lower(split_part(split_part(a.url, '://', 2), '/', 1)), '^www\.', '') AS source,
    CAST(timezone('UTC', coalesce(a.published_at, a.first_seen_at)) AS DATE) AS day,
    a.dedup_status,
    a.duplicate_of
FROM articles a;
COMMENT ON VIEW article_days IS 'Each article with its source (host without www.) and day (UTC date of coalesce(published_at, first_seen_at)).';
