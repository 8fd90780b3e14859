-- Identity, organisations: orgs, members, membership periods, invites, API keys and the audit trail.
--
-- Owned by helper ORGS (projections in appliance/identity/projections/orgs*.py and audit*.py).
-- Read by the API guards (appliance/api/auth.py: org_access, API key lookup).
--
-- Conventions: ids are the canonical text of their typed id; timestamps shown to people are
-- ISO-8601 UTC text (`datetime.isoformat()`); timestamps that are compared or ordered are
-- integer microseconds since the Unix epoch (`*_us`), so that ordering never depends on text
-- formatting; booleans are 0/1; roles are 'owner' | 'admin' | 'member' | 'viewer'.

-- One row per organisation ever created; a deleted organisation keeps its row with deleted = 1
-- (every guard must treat it as absent). created_by is the actor text ('user:<id>', ...).
CREATE TABLE orgs (
    org_id      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    deleted_at  TEXT,
    version     INTEGER NOT NULL
) STRICT;

-- Current members only: a member who leaves or is removed loses their row. Rows of a deleted
-- organisation stay (the organisation row says it is gone).
CREATE TABLE org_members (
    org_id     TEXT NOT NULL REFERENCES orgs (org_id),
    user_id    TEXT NOT NULL,
    email      TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    joined_at  TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
) STRICT;
CREATE INDEX org_members_by_user ON org_members (user_id, org_id);

-- Every span of time a user was a member of an organisation, [joined_us, left_us). The audit
-- trail of an organisation shows a user's own events (sign-ins, sessions, account changes) that
-- happened while they were a member: the join is by time, so it does not depend on the order in
-- which streams were projected, and a rebuild gives the same answer.
CREATE TABLE org_member_periods (
    org_id     TEXT NOT NULL REFERENCES orgs (org_id),
    user_id    TEXT NOT NULL,
    joined_us  INTEGER NOT NULL,
    left_us    INTEGER,
    PRIMARY KEY (org_id, user_id, joined_us)
) STRICT;
CREATE INDEX org_member_periods_by_user ON org_member_periods (user_id, org_id);

-- Invites, pending or not. The token itself is never stored, only its hash (in the event log).
-- status is the stored status ('pending' | 'accepted' | 'revoked'); expiry is derived from
-- expires_us at read time.
CREATE TABLE org_invites (
    org_id       TEXT NOT NULL REFERENCES orgs (org_id),
    invite_id    TEXT NOT NULL,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    status       TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'revoked')),
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    expires_us   INTEGER NOT NULL,
    invited_by   TEXT NOT NULL,
    accepted_by  TEXT,
    PRIMARY KEY (org_id, invite_id)
) STRICT;
CREATE UNIQUE INDEX org_invites_by_id ON org_invites (invite_id);

-- API keys. key_sha256 is the hex SHA-256 of the whole key text (auth/apikeys.py); prefix is the
-- 12-character lookup prefix (without 'crk_'). revoked = 1 once the key was revoked OR its
-- organisation was deleted: either way it must no longer authenticate. expires_at/expires_us are
-- NULL for a key that never expires. created_by is the id of the USER on whose behalf the key
-- acts (a key made by another key inherits that key's user; NULL when made by an operator);
-- created_by_actor is who made it, as the audit shows actors ('user:<id>', 'api_key:<id>', ...).
CREATE TABLE api_keys (
    key_id      TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (org_id),
    name        TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    key_sha256  TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at  TEXT NOT NULL,
    created_by  TEXT,
    created_by_actor TEXT NOT NULL,
    expires_at  TEXT,
    expires_us  INTEGER,
    revoked     INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
    revoked_at  TEXT
) STRICT;
CREATE UNIQUE INDEX api_keys_by_prefix ON api_keys (prefix);
CREATE INDEX api_keys_by_org ON api_keys (org_id);

-- The audit trail: one row per identity event. org_id is set for organisation events
-- (events.org_of); user_id names the user an event is about (the subject, not the actor), so a
-- user's own events reach the audit of the organisations they belonged to at that time through
-- org_member_periods. Pages are read newest first by (occurred_us, event_id), a key that is the
-- same after a rebuild. detail is the JSON of events.audit_view (no secrets).
CREATE TABLE audit_events (
    event_id     TEXT PRIMARY KEY,
    occurred_us  INTEGER NOT NULL,
    occurred_at  TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    stream       TEXT NOT NULL,
    sequence     INTEGER NOT NULL,
    org_id       TEXT,
    user_id      TEXT,
    actor        TEXT NOT NULL,
    detail       TEXT NOT NULL
) STRICT;
CREATE INDEX audit_events_by_time ON audit_events (occurred_us DESC, event_id DESC);
CREATE INDEX audit_events_by_org ON audit_events (org_id, occurred_us DESC, event_id DESC);
CREATE INDEX audit_events_by_user ON audit_events (user_id, occurred_us DESC, event_id DESC);
CREATE INDEX audit_events_by_type ON audit_events (event_type, occurred_us DESC, event_id DESC);
