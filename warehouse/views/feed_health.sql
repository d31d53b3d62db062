-- Every feed the warehouse has polled: state, last success, failures in a row, and its polls.
CREATE OR REPLACE VIEW feed_health AS
SELECT f.url, f.name, f.state, f.last_status, f.last_error, f.last_polled_at, f.last_success_at,
       f.consecutive_failures,
       count(p.feed_url) AS polls,
       count(*) FILTER (WHERE p.status = 'error') AS failed_polls,
       round(avg(p.items), 1) AS items_per_poll,
       sum(p.new_items) AS new_items
FROM feeds f LEFT JOIN feed_polls p ON p.feed_url = f.url
GROUP BY ALL;
COMMENT ON VIEW feed_health IS 'Per feed: state, last poll and success, consecutive failures, polls, failed polls, entries per poll, new entries.';
