-- The audit trail: one row per call (or per aggregated minute of refused
-- calls), CloudTrail's event JSON in `record`, and the fields look-ups
-- filter on beside it (see crates/store/src/audit.rs).
--
-- Partitioned by day on `event_time`: retention (audit.retention_days)
-- drops whole partitions, which costs nothing whatever their size, and a
-- look-up within a time range reads only its days. Partitions are made
-- ahead by every instance (a week at a time); the default partition
-- catches a row whose day has none yet, so a write never fails for want of
-- one, and retention deletes its old rows.
--
-- `audience` says who may see a row: 'account' (account_id's), 'everyone'
-- (deployment-wide events such as signing-key rotations), 'operators'
-- (calls naming ids that exist nowhere: no account's).

CREATE TABLE audit_events (
    event_time     timestamptz NOT NULL,
    event_id       uuid        NOT NULL,
    audience       text        NOT NULL CHECK (audience IN ('account', 'everyone', 'operators')),
    account_id     text,
    event_source   text        NOT NULL,
    event_name     text        NOT NULL,
    read_only      boolean     NOT NULL,
    access_key_id  text,
    username       text,
    pool_id        text,
    identity_id    text,
    error_code     text,
    count          integer     NOT NULL DEFAULT 1,
    record         text        NOT NULL,
    CHECK ((audience = 'account') = (account_id IS NOT NULL))
) PARTITION BY RANGE (event_time);

CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

-- Every index is work on each of the many records of public calls, so
-- there are few, each serving a look-up in order (newest first, LIMIT n):
-- an account's records; a pool's and by operation name, only for the
-- operations other than the three high-volume public ones (their records
-- are dense in their account's index, so that index with a filter finds
-- them as fast); by access key and by error, only for records that have
-- one. An identity's records are few: a hash index (a 4-byte hash per
-- row, the cheapest to keep up) finds them and they are sorted after. An
-- event id is a UUIDv7: the time it holds narrows an id look-up to one
-- millisecond of the account's index. BRIN on the time serves exports and
-- operators' time ranges at next to no cost.
CREATE INDEX audit_events_by_account ON audit_events (account_id, event_time DESC, event_id DESC);
CREATE INDEX audit_events_by_pool ON audit_events (pool_id, event_time DESC, event_id DESC)
    WHERE pool_id IS NOT NULL AND event_name NOT IN ('GetId', 'GetOpenIdToken', 'GetCredentialsForIdentity');
CREATE INDEX audit_events_by_identity ON audit_events USING hash (identity_id) WHERE identity_id IS NOT NULL;
CREATE INDEX audit_events_by_name ON audit_events (account_id, event_name, event_time DESC, event_id DESC)
    WHERE event_name NOT IN ('GetId', 'GetOpenIdToken', 'GetCredentialsForIdentity');
CREATE INDEX audit_events_by_key ON audit_events (access_key_id, event_time DESC, event_id DESC) WHERE access_key_id IS NOT NULL;
CREATE INDEX audit_events_by_error ON audit_events (account_id, error_code, event_time DESC, event_id DESC) WHERE error_code IS NOT NULL;
CREATE INDEX audit_events_for_everyone ON audit_events (event_time DESC, event_id DESC) WHERE audience = 'everyone';
CREATE INDEX audit_events_by_time ON audit_events USING brin (event_time);
