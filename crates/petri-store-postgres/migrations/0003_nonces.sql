-- Nonces of replay-protected requests, kept until their request could no longer be accepted.
-- Shared by every server on the schema, so a request replayed to another replica is refused too.
CREATE TABLE nonces (
    nonce TEXT PRIMARY KEY,
    expires BIGINT NOT NULL
);
CREATE INDEX nonces_by_expiry ON nonces (expires);
