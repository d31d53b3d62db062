-- Topic mentions per source (the host of the article URL without www.).
CREATE OR REPLACE VIEW topic_by_source AS
SELECT
    d.source,
    t.topic,
    count(*) AS articles,
    count(*) FILTER (WHERE a.dedup_status = 'unique') AS unique_stories,
    count(*) FILTER (WHERE a.dedup_status <> 'unique') AS copies,
    sum(t.mentions) AS mentions
FROM article_topics t
JOIN articles a USING (article_id)
JOIN article_days d USING (article_id)
GROUP BY ALL;
COMMENT ON VIEW topic_by_source IS 'Per source (URL host without www.) and topic: articles, unique stories, copies, mentions.';
