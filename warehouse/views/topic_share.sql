-- A topic's share of each source's output: articles on the topic / all articles of the source,
-- so a big outlet and a small one can be compared.
CREATE OR REPLACE VIEW topic_share AS
WITH volume AS (SELECT source, count(*) AS source_articles FROM article_days GROUP BY source)
SELECT s.source, s.topic, s.articles, v.source_articles,
       round(s.articles / v.source_articles, 4) AS share
FROM topic_by_source s JOIN volume v USING (source);
COMMENT ON VIEW topic_share IS 'Per source and topic: articles on the topic, all articles of the source, and the share.';
