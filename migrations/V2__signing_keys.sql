-- Cognate's own token signing keys, shared by every instance.
--
-- A key is published in the JWKS from created_at, signs from activate_at
-- until retired_at (when the next key activates), and stays published until
-- expires_at (retired_at + the longest token lifetime + grace), after which
-- it is deleted. private_key is PKCS#8 DER, sealed with AES-256-GCM under
-- the configured key-encryption key when encrypted is true (format: 0x01,
-- 12-byte nonce, ciphertext, tag; AAD = kid). Rotation is serialised by a
-- transaction-scoped advisory lock (see crates/store/src/keys.rs).

CREATE TABLE signing_keys (
    kid              text        PRIMARY KEY,
    alg              text        NOT NULL,
    private_key      bytea       NOT NULL,
    encrypted        boolean     NOT NULL,
    certificate_der  bytea       NOT NULL,
    created_at       timestamptz NOT NULL,
    activate_at      timestamptz NOT NULL,
    retired_at       timestamptz,
    expires_at       timestamptz,
    CONSTRAINT signing_keys_retired_after_activation
        CHECK (retired_at IS NULL OR retired_at >= activate_at),
    CONSTRAINT signing_keys_expire_after_retirement
        CHECK (expires_at IS NULL OR (retired_at IS NOT NULL AND expires_at >= retired_at))
);
