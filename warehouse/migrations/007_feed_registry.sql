-- Schema 7: the feed registry (feeds added with `corpus-monitor feeds add` or `feeds import`),
-- feed groups, and the entries each feed listed (their dates drive adaptive polling).
-- It changes no table but feeds besides its own, so its order among other migrations is free.
CREATE TABLE feed_registry (
    url         VARCHAR PRIMARY KEY,
    name        VARCHAR,
    group_name  VARCHAR,
    every       INTEGER CHECK (every > 0),
    source      VARCHAR NOT NULL CHECK (source IN ('cli', 'opml')),
    added_at    TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE feed_registry IS 'Feeds added with `corpus-monitor feeds add` or `feeds import` (OPML), polled alongside the config''s [[feeds]]; a config feed with the same URL wins.';
COMMENT ON COLUMN feed_registry.group_name IS 'The feed''s group (an OPML folder; nested folders joined with " / "): feed_groups.name.';
COMMENT ON COLUMN feed_registry.every IS 'Seconds between polls in scheduled runs; NULL: the group''s, else adaptive.';
COMMENT ON COLUMN feed_registry.source IS 'How it was added: cli (feeds add) or opml (feeds import).';

CREATE TABLE feed_groups (
    name        VARCHAR PRIMARY KEY,
    every       INTEGER CHECK (every > 0),
    topics      VARCHAR[],
    created_at  TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE feed_groups IS 'Feed groups of the registry (OPML folders); a [groups.NAME] table in the config with the same name wins.';
COMMENT ON COLUMN feed_groups.every IS 'Seconds between polls of the group''s feeds; NULL: adaptive.';
COMMENT ON COLUMN feed_groups.topics IS 'Only these topics are matched in the articles of the group''s feeds; NULL: all topics.';

CREATE TABLE feed_entries (
    feed_url       VARCHAR NOT NULL,
    url            VARCHAR NOT NULL,
    published_at   TIMESTAMPTZ,
    first_seen_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (feed_url, url)
);
COMMENT ON TABLE feed_entries IS 'Every entry a feed has listed (canonical URL), with its date: how often the feed publishes, for adaptive polling. Written with the feed''s poll.';
COMMENT ON COLUMN feed_entries.first_seen_at IS 'The poll that first listed the entry (stands in for the date of an undated entry).';

ALTER TABLE feeds ADD COLUMN ttl_seconds INTEGER;
COMMENT ON COLUMN feeds.ttl_seconds IS 'The shortest interval the feed asks for (RSS <ttl>, sy:updatePeriod / sy:updateFrequency), from its last successful poll; adaptive polling never goes below it.';
