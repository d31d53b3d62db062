-- Topic mentions per UTC day. `day` is the UTC date of coalesce(published_at, first_seen_at);
-- `unique_stories` counts the day's originals (articles that copy nothing: a story counts on the
-- day it first appeared), `copies` the day's exact and near duplicates and partial copies (excerpts,
-- truncated pages); articles = both.
CREATE OR REPLACE VIEW topic_daily AS
SELECT
    CAST(timezone('UTC', coalesce(a.published_at, a.first_seen_at)) AS DATE) AS day,
    t.topic,
    count(*) AS articles,
    count(*) FILTER (WHERE a.dedup_status = 'unique') AS unique_stories,
    count(*) FILTER (WHERE a.dedup_status <> 'unique') AS copies,
    sum(t.mentions) AS mentions
FROM article_topics t JOIN articles a USING (article_id)
GROUP BY ALL;
COMMENT ON VIEW topic_daily IS 'Per UTC day and topic: articles, unique stories (originals), copies (duplicates), mentions.';
