-- Entities with several types (NGSI-LD 4.16): every type of every entity, so that a type
-- query finds an entity by any of its types. entities.type stays the first type (the change
-- feed, logs); queries, counts and the type list read this table. Keyed (type, id) so a
-- one-type page comes in id order straight off the key. Rows go with their entity.
CREATE TABLE entity_types (
    type text COLLATE "C" NOT NULL,
    id   text COLLATE "C" NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    PRIMARY KEY (type, id)
);
CREATE INDEX entity_types_id ON entity_types (id);
INSERT INTO entity_types (type, id) SELECT type, id FROM entities;
-- A change of a multi-typed entity: a subscriber filtering the feed by type must look at it
-- whatever its first type is (it then checks the entity's types itself).
ALTER TABLE changes ADD COLUMN multi_typed boolean NOT NULL DEFAULT false;
