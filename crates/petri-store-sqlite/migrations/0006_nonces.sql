-- Nonces of replay-protected requests, kept until their request could no longer be accepted.
CREATE TABLE nonces (
    nonce TEXT PRIMARY KEY,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX nonces_by_expiry ON nonces (expires);
