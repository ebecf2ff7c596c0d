-- Users, sessions, API tokens and custom roles. Secrets are never stored in clear:
-- passwords as argon2id PHC strings, session and token secrets as SHA-256 digests.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    sources       TEXT,                 -- JSON array of service sources, NULL = all
    disabled      INTEGER NOT NULL DEFAULT 0,
    created       INTEGER NOT NULL,
    last_login    INTEGER
);

CREATE TABLE sessions (
    digest  BLOB PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    csrf    TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    digest     BLOB NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    sources    TEXT,
    created_by TEXT NOT NULL,
    created    INTEGER NOT NULL,
    last_used  INTEGER,
    revoked    INTEGER
);

-- What each history event is about; alert ids are chosen by producers and must never
-- alias another kind's target.
ALTER TABLE history ADD COLUMN kind TEXT NOT NULL DEFAULT 'alert';
CREATE INDEX history_kind ON history (kind, seq);

CREATE TABLE roles (
    name        TEXT PRIMARY KEY COLLATE NOCASE,
    permissions TEXT NOT NULL,          -- JSON array of permission names
    sources     TEXT,
    created     INTEGER NOT NULL
);
