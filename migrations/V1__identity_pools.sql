-- Identity pools and what hangs off them.
--
-- Nested configuration (providers, roles, role mappings, tags) is stored as
-- JSONB in the wire's shape: it is always read and written whole, under the
-- pool's row lock. `seq` orders pools for keyset paging (ListIdentityPools).

CREATE TABLE identity_pools (
    id                            text        PRIMARY KEY,
    seq                           bigserial   NOT NULL UNIQUE,
    account_id                    text        NOT NULL,
    name                          text        NOT NULL,
    allow_unauthenticated         boolean     NOT NULL,
    allow_classic_flow            boolean     NOT NULL DEFAULT false,
    developer_provider_name       text,
    supported_login_providers     jsonb       NOT NULL DEFAULT '{}',
    openid_connect_provider_arns  jsonb       NOT NULL DEFAULT '[]',
    cognito_identity_providers    jsonb       NOT NULL DEFAULT '[]',
    saml_provider_arns            jsonb       NOT NULL DEFAULT '[]',
    tags                          jsonb       NOT NULL DEFAULT '{}',
    roles                         jsonb       NOT NULL DEFAULT '{}',
    role_mappings                 jsonb       NOT NULL DEFAULT '{}',
    created_at                    timestamptz NOT NULL,
    updated_at                    timestamptz NOT NULL
);

CREATE INDEX identity_pools_by_account ON identity_pools (account_id, seq);

CREATE TABLE principal_tag_maps (
    pool_id         text    NOT NULL REFERENCES identity_pools (id) ON DELETE CASCADE,
    provider_name   text    NOT NULL,
    use_defaults    boolean NOT NULL,
    principal_tags  jsonb   NOT NULL DEFAULT '{}',
    PRIMARY KEY (pool_id, provider_name)
);
