-- Core of the read model: projection checkpoints, failed events, and the instance record.
CREATE TABLE projection_checkpoints (
    stream   TEXT PRIMARY KEY,
    sequence INTEGER NOT NULL,
    events   INTEGER NOT NULL
) STRICT;

CREATE TABLE failed_events (
    stream     TEXT NOT NULL,
    sequence   INTEGER NOT NULL,
    event_id   TEXT,
    event_type TEXT,
    projection TEXT NOT NULL,
    error      TEXT NOT NULL,
    PRIMARY KEY (stream, sequence, projection)
) STRICT;

CREATE TABLE instance (
    singleton       INTEGER PRIMARY KEY CHECK (singleton = 1),
    instance_id     TEXT NOT NULL,
    name            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    setup_spent     INTEGER NOT NULL,
    signup_mode     TEXT NOT NULL,
    version         INTEGER NOT NULL
) STRICT;
