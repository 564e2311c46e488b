-- Foundation: users, invites, couples and their members, group linking,
-- update de-duplication and the outbox of messages owed to a chat.
-- Moments are INTEGER seconds since the Unix epoch, UTC.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,            -- Telegram user id
    first_name    TEXT    NOT NULL,
    private_chat  INTEGER NOT NULL DEFAULT 0,     -- 1 once they started the bot privately
    reachable     INTEGER NOT NULL DEFAULT 1,     -- 0 after Forbidden / blocked
    awaiting      TEXT,                           -- free text the bot asked for, e.g. 'tz:12'
    created_at    INTEGER NOT NULL
);

CREATE TABLE couples (
    id             INTEGER PRIMARY KEY,
    user_a         INTEGER NOT NULL REFERENCES users(id),   -- the inviter
    user_b         INTEGER NOT NULL REFERENCES users(id),
    group_chat_id  INTEGER,
    stage          TEXT    NOT NULL DEFAULT 'timezone'
                   CHECK (stage IN ('timezone', 'day', 'time', 'active', 'dissolved')),
    timezone       TEXT,
    weekday        INTEGER NOT NULL DEFAULT 6 CHECK (weekday BETWEEN 0 AND 6),  -- Monday = 0
    local_time     TEXT    NOT NULL DEFAULT '19:00',
    next_due_at    INTEGER,
    paused_until   INTEGER,
    reminders      INTEGER NOT NULL DEFAULT 1,
    reveal_to      TEXT    NOT NULL DEFAULT 'group' CHECK (reveal_to IN ('group', 'private')),
    created_at     INTEGER NOT NULL,
    dissolved_at   INTEGER
);
CREATE UNIQUE INDEX couples_group ON couples(group_chat_id) WHERE group_chat_id IS NOT NULL;
CREATE INDEX couples_due ON couples(next_due_at) WHERE next_due_at IS NOT NULL;

-- A user belongs to at most one live couple: the primary key says so.
CREATE TABLE members (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id),
    couple_id  INTEGER NOT NULL REFERENCES couples(id) ON DELETE CASCADE
);
CREATE INDEX members_couple ON members(couple_id);

-- Only a hash of the token is stored: a leaked database cannot be used to pair.
CREATE TABLE invites (
    token_hash  BLOB    PRIMARY KEY,
    inviter_id  INTEGER NOT NULL REFERENCES users(id),
    kind        TEXT    NOT NULL CHECK (kind IN ('partner', 'group')),
    couple_id   INTEGER REFERENCES couples(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    used_by     INTEGER
);
CREATE UNIQUE INDEX invites_one_live ON invites(inviter_id, kind) WHERE used_at IS NULL;

-- Group-first pairing: who pressed "I'm in" in which group.
CREATE TABLE group_votes (
    chat_id    INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);

-- An update handled once is never handled again (dedupe by equality, see docs).
CREATE TABLE seen_updates (
    update_id  INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL
);
CREATE INDEX seen_updates_at ON seen_updates(at);

-- Messages owed to a chat. Written in the same transaction as the state change
-- that owes them; sent after commit; a restart sends what is still unsent.
-- `key` makes a scheduled send unique (e.g. 'reveal:42').
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY,
    key        TEXT UNIQUE,
    chat_id    INTEGER NOT NULL,
    body       BLOB,                -- encrypted JSON of the message; NULL once sent
    created_at INTEGER NOT NULL,
    sent_at    INTEGER,
    claimed_at INTEGER,
    attempts   INTEGER NOT NULL DEFAULT 0,
    failed     TEXT                 -- why it was given up, e.g. 'forbidden'
);
CREATE INDEX outbox_pending ON outbox(id) WHERE sent_at IS NULL AND failed IS NULL;
