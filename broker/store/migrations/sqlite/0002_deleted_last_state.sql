-- The last state of a deleted entity, kept with its deletion in the change feed, so that a
-- subscription only learns of deletions of entities it was allowed to see (area, filters).
ALTER TABLE changes ADD COLUMN last_doc BLOB;
