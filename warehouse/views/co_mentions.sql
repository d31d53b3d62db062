-- Two topics in one article (any two it mentions) and in one sentence (article_topic_pairs,
-- recorded at load time), per UTC day; topic_a < topic_b.
CREATE OR REPLACE VIEW co_mentions AS
SELECT
    CAST(timezone('UTC', coalesce(a.published_at, a.first_seen_at)) AS DATE) AS day,
    x.topic AS topic_a,
    y.topic AS topic_b,
    count(*) AS articles,
    count(p.article_id) AS articles_same_sentence,
    coalesce(sum(p.sentences_together), 0) AS sentences_together
FROM article_topics x
JOIN article_topics y ON y.article_id = x.article_id AND x.topic < y.topic
JOIN articles a ON a.article_id = x.article_id
LEFT JOIN article_topic_pairs p
       ON p.article_id = x.article_id AND p.topic_a = x.topic AND p.topic_b = y.topic
GROUP BY ALL;
COMMENT ON VIEW co_mentions IS 'Per UTC day and topic pair: articles mentioning both, articles with both in one sentence, sentences with both.';
