-- Schema 3: data-quality gates (quarantine, dq_results) and the runs.quarantined counter.
ALTER TABLE runs ADD COLUMN quarantined INTEGER NOT NULL DEFAULT 0;
COMMENT ON COLUMN runs.quarantined IS 'Articles held back in quarantine by a row-level data-quality expectation.';

CREATE TABLE quarantine (
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

CREATE TABLE dq_results (
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
