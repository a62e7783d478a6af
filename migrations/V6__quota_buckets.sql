-- Request-rate quotas shared by every instance (see crates/api/src/quota.rs).
--
-- One token bucket per (account, operation). An instance leases a few
-- tokens at a time with one UPDATE ... RETURNING that refills the bucket
-- from `tokens` and `updated_at` (database time, so instance clocks do not
-- matter) and takes what it can. `last_grant` is how many tokens that
-- UPDATE took: RETURNING sees only new values, so the grant is stored to
-- be returned. Rows are small and few (accounts x 23 operations).

CREATE TABLE quota_buckets (
    account_id  text              NOT NULL,
    operation   text              NOT NULL,
    tokens      double precision  NOT NULL,
    updated_at  timestamptz       NOT NULL,
    last_grant  integer           NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, operation)
);
