-- NGSI-LD context source registrations (ETSI GS CIM 009 5.2.9, 5.9, 5.10). A registration
-- belongs to the API client that created it (owner): ids are per owner, so one client can
-- neither see nor collide with another's. doc is the registration in stored names (JSON,
-- without the broker-kept members); times are Unix seconds; expires_at NULL: never.
CREATE TABLE csource_registrations (
    owner       text NOT NULL,
    id          text NOT NULL,
    doc         jsonb NOT NULL,
    created_at  double precision NOT NULL,
    modified_at double precision NOT NULL,
    expires_at  double precision,
    PRIMARY KEY (owner, id)
);
