-- Articles close to a seed without being duplicates of it: they share LSH band keys with the
-- seed's signature. With bands of 2 MinHash values a band agrees with probability J^2, so
-- sqrt(shared / bands) estimates the word-shingle Jaccard similarity (roughly, ±0.1).
CREATE OR REPLACE VIEW seed_related AS
WITH seeds AS (SELECT doc_key, doc_id FROM dedup_signatures WHERE starts_with(doc_id, 'seed:')),
     bands AS (SELECT doc_key, count(*) AS n FROM dedup_lsh GROUP BY doc_key),
     shared AS (
        SELECT s.doc_id AS seed, l2.doc_key, count(*) AS shared_bands
        FROM seeds s
        JOIN dedup_lsh l1 ON l1.doc_key = s.doc_key
        JOIN dedup_lsh l2 ON l2.band_key = l1.band_key AND l2.doc_key <> s.doc_key
        GROUP BY ALL
     )
SELECT sh.seed, a.article_id, a.url, a.title, sh.shared_bands,
       round(sqrt(sh.shared_bands / b.n), 2) AS est_similarity,
       a.dedup_status, a.duplicate_of
FROM shared sh
JOIN bands b USING (doc_key)
JOIN dedup_signatures d USING (doc_key)
JOIN articles a ON a.article_id = d.doc_id
WHERE a.duplicate_of IS DISTINCT FROM sh.seed;
COMMENT ON VIEW seed_related IS 'Articles sharing LSH band keys with a seed but not flagged as its duplicate, with an estimated similarity.';
