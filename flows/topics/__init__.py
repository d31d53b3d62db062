"""Topic mentions: matching aliases in titles and texts, and retagging the warehouse."""
