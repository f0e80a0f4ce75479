-- Entities with several types (NGSI-LD 4.16): every type of every entity, so that a type
-- query finds an entity by any of its types. entities.type stays the first type (the change
-- feed, logs); queries, counts and the type list read this table. Keyed (type, id) so a
-- one-type page comes in id order straight off the key; rid joins the entity row.
CREATE TABLE entity_types (
    type TEXT NOT NULL,
    id   TEXT NOT NULL,
    rid  INTEGER NOT NULL,
    PRIMARY KEY (type, id)
) WITHOUT ROWID;
CREATE INDEX entity_types_rid ON entity_types (rid);
INSERT INTO entity_types (type, id, rid) SELECT type, id, rid FROM entities;
-- A change of a multi-typed entity: a subscriber filtering the feed by type must look at it
-- whatever its first type is (it then checks the entity's types itself).
ALTER TABLE changes ADD COLUMN multi_typed INTEGER NOT NULL DEFAULT 0;
