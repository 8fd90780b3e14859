-- Identity (users): accounts, their passkeys and linked external identities, as the API lists them.
-- Projected from the user aggregate (`platform.identity.user.<id>`); secrets (password hashes,
-- reset tokens, public keys) are never copied here.
CREATE TABLE users (
    user_id        TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    instance_admin INTEGER NOT NULL CHECK (instance_admin IN (0, 1)),
    has_password   INTEGER NOT NULL CHECK (has_password IN (0, 1)),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    version        INTEGER NOT NULL
) STRICT;

CREATE TABLE user_passkeys (
    passkey_id    TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    credential_id BLOB NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    sign_count    INTEGER NOT NULL,
    transports    TEXT NOT NULL,
    aaguid        TEXT,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT
) STRICT;
CREATE INDEX user_passkeys_by_user ON user_passkeys (user_id, created_at);

CREATE TABLE user_identities (
    provider  TEXT NOT NULL,
    subject   TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    email     TEXT,
    linked_at TEXT NOT NULL,
    PRIMARY KEY (provider, subject)
) STRICT;
CREATE INDEX user_identities_by_user ON user_identities (user_id);
