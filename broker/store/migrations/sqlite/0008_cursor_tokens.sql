-- Subscribers get opaque resume tokens, not change-feed positions (provider/cursor_tokens.py).
-- A subscriber may still hold a position given out before this migration: positions up to
-- the feed's head now stay valid as cursors, no later one ever is (so none can be probed).
INSERT OR IGNORE INTO state (namespace, key, value)
    SELECT 'change_cursor', 'legacy_limit', CAST(coalesce(max(cursor), 0) AS TEXT) FROM changes;
