-- Schema 2: the LSH index keys documents by a small integer and keeps 4-byte band keys
-- (dedup_bands: ~450 bytes per document on disk -> dedup_lsh: under 200).
CREATE TABLE dedup_signatures_v2 (
    doc_id         VARCHAR PRIMARY KEY,
    doc_key        INTEGER NOT NULL,
    content_hash   VARCHAR NOT NULL,
    root_id        VARCHAR NOT NULL,
    first_seen_at  TIMESTAMPTZ NOT NULL,
    minhash        BLOB NOT NULL
);
INSERT INTO dedup_signatures_v2
SELECT doc_id, row_number() OVER (ORDER BY first_seen_at, doc_id), content_hash, root_id,
       first_seen_at, minhash
FROM dedup_signatures;

CREATE TABLE dedup_lsh (
    band_key  INTEGER NOT NULL,
    doc_key   INTEGER NOT NULL
);
-- the new key: the old 8-byte key's low 4 bytes (both are BLAKE2b read little-endian) XOR the
-- band's constant (b + 1) * 0x9E3779B1 mod 2^32, as a signed integer
INSERT INTO dedup_lsh
SELECT (k - CASE WHEN k >= 2147483648 THEN 4294967296 ELSE 0 END)::INTEGER, doc_key
FROM (
    SELECT xor(b.band_key & 4294967295, ((b.band::BIGINT + 1) * 2654435761) % 4294967296) AS k,
           s.doc_key, b.band
    FROM dedup_bands b JOIN dedup_signatures_v2 s USING (doc_id)
)
ORDER BY doc_key, band;

DROP TABLE dedup_bands;
DROP TABLE dedup_signatures;
ALTER TABLE dedup_signatures_v2 RENAME TO dedup_signatures;
COMMENT ON TABLE dedup_signatures IS 'The dedup index: one row per article or seed (doc_id = article_id or ''seed:<id>'').';
COMMENT ON COLUMN dedup_signatures.doc_key IS 'A small integer for the document, used by dedup_lsh (assigned in load order).';
COMMENT ON COLUMN dedup_signatures.root_id IS 'The earliest original of the document''s story (itself when unique).';
COMMENT ON COLUMN dedup_signatures.minhash IS 'MinHash signature (num_perm little-endian uint32).';
COMMENT ON TABLE dedup_lsh IS 'LSH band keys of each signature (one row per band): documents sharing a (band, band_key) are near-duplicate candidates, verified on their text before anything is flagged.';
COMMENT ON COLUMN dedup_lsh.band_key IS 'Band b: the first 4 bytes of BLAKE2b over the band''s signature values (little-endian), XOR (b + 1) * 0x9E3779B1 mod 2^32, as a signed integer.';
