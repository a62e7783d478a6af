-- Identities and their logins.
--
-- A login is (provider, subject) unique within a pool: that constraint is
-- what settles two concurrent first logins of one user. `subject` is a
-- developer user identifier as given, or the keyed hash of an upstream
-- provider's subject (never the subject itself). An identity may hold
-- many developer identifiers but one login per public provider.

CREATE TABLE identities (
    id                text        PRIMARY KEY,
    seq               bigserial   NOT NULL UNIQUE,
    pool_id           text        NOT NULL REFERENCES identity_pools (id) ON DELETE CASCADE,
    authenticated     boolean     NOT NULL,
    disabled          boolean     NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL,
    last_modified_at  timestamptz NOT NULL
);

CREATE INDEX identities_by_pool ON identities (pool_id, seq);

CREATE TABLE identity_logins (
    pool_id      text        NOT NULL REFERENCES identity_pools (id) ON DELETE CASCADE,
    provider     text        NOT NULL,
    subject      text        NOT NULL,
    developer    boolean     NOT NULL,
    identity_id  text        NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    seq          bigserial   NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (pool_id, provider, subject)
);

CREATE INDEX identity_logins_by_identity ON identity_logins (identity_id, seq);
CREATE UNIQUE INDEX identity_logins_one_public_login_per_provider
    ON identity_logins (identity_id, provider) WHERE NOT developer;
