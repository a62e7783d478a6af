-- Deployment-wide secrets generated on first start when the operator did
-- not configure them (e.g. the key that hashes upstream subjects), so that
-- every instance sharing the database uses the same one.
CREATE TABLE secrets (
    name        text        PRIMARY KEY,
    value       bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
