-- Schema 8: the length of each article's text, kept beside it. The feed-health check compares a
-- run's text lengths with each feed's history; reading the lengths instead of every stored text
-- keeps its memory and time flat as the history grows.
ALTER TABLE articles ADD COLUMN IF NOT EXISTS text_chars INTEGER;
UPDATE articles SET text_chars = length(text);
COMMENT ON COLUMN articles.text_chars IS 'length(text), written with it: checks over the history read this column, not the texts.';
