-- AllowClassicFlow has three states on AWS: absent (the pool was created or
-- updated without the field: GetOpenIdToken works, answers omit the member),
-- true and false. Existing rows keep their explicit value; from now on an
-- omitted field is stored as NULL.
ALTER TABLE identity_pools
    ALTER COLUMN allow_classic_flow DROP NOT NULL,
    ALTER COLUMN allow_classic_flow DROP DEFAULT;
