-- Ids that are never reused, quiet hours, held text and the former-partner placeholder.
--
-- Outbox keys are built from row ids ('ci:{id}:reveal', 'summary:{couple}:…'). SQLite
-- reuses the largest rowid after a delete unless the table says AUTOINCREMENT, so a key
-- could name a new thing that an old row already claimed ("ON CONFLICT DO NOTHING" then
-- silently dropped the new message). The four tables whose ids go into keys are rebuilt
-- with AUTOINCREMENT, and each sequence starts above every id an existing key names.
-- Runs with foreign keys off (see Database._migrate); foreign_key_check runs before commit.

CREATE TABLE couples_new (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_a         INTEGER NOT NULL REFERENCES users(id),   -- the inviter (0: erased)
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
    dissolved_at   INTEGER,
    quiet_start    TEXT    NOT NULL DEFAULT '22:00',  -- couple-local; nothing scheduled fires
    quiet_end      TEXT    NOT NULL DEFAULT '08:00'   -- between these (may wrap midnight)
);
INSERT INTO couples_new (id, user_a, user_b, group_chat_id, stage, timezone, weekday,
    local_time, next_due_at, paused_until, reminders, reveal_to, created_at, dissolved_at)
SELECT id, user_a, user_b, group_chat_id, stage, timezone, weekday, local_time, next_due_at,
    paused_until, reminders, reveal_to, created_at, dissolved_at FROM couples;
DROP TABLE couples;
ALTER TABLE couples_new RENAME TO couples;
CREATE UNIQUE INDEX couples_group ON couples(group_chat_id) WHERE group_chat_id IS NOT NULL;
CREATE INDEX couples_due ON couples(next_due_at) WHERE next_due_at IS NOT NULL;

CREATE TABLE checkins_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    couple_id   INTEGER NOT NULL REFERENCES couples(id) ON DELETE CASCADE,
    week        TEXT    NOT NULL,                 -- couple-local ISO week, '2026-W48'
    items       TEXT    NOT NULL,                 -- JSON list of question ids, in order
    status      TEXT    NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'revealed', 'expired')),
    opened_at   INTEGER NOT NULL,
    remind_at   INTEGER,                          -- NULL once the reminder went (or none due)
    closes_at   INTEGER NOT NULL,
    closed_at   INTEGER,
    early       INTEGER NOT NULL DEFAULT 0,       -- 1: opened by /checkin before its time
    UNIQUE (couple_id, week)
);
INSERT INTO checkins_new (id, couple_id, week, items, status, opened_at, remind_at, closes_at,
    closed_at)
SELECT id, couple_id, week, items, status, opened_at, remind_at, closes_at, closed_at
FROM checkins;
DROP TABLE checkins;
ALTER TABLE checkins_new RENAME TO checkins;
CREATE INDEX checkins_remind ON checkins(remind_at) WHERE status = 'open' AND remind_at IS NOT NULL;
CREATE INDEX checkins_closing ON checkins(closes_at) WHERE status = 'open';
CREATE INDEX checkins_closed ON checkins(closed_at) WHERE status IN ('revealed', 'expired');

CREATE TABLE conflict_conversations_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    couple_id     INTEGER NOT NULL REFERENCES couples(id) ON DELETE CASCADE,
    initiator     INTEGER NOT NULL,
    partner       INTEGER NOT NULL,
    group_chat_id INTEGER,
    topic         BLOB,
    state         TEXT    NOT NULL CHECK (state IN (
                      'topic', 'appointment', 'scheduled', 'rules', 'speaking', 'paraphrasing',
                      'confirming', 'correcting', 'validating', 'round_menu', 'requests',
                      'timeout', 'parked', 'closed', 'ended')),
    paused_state  TEXT,
    speaker       INTEGER,
    listener      INTEGER,
    round         INTEGER NOT NULL DEFAULT 1,
    half          INTEGER NOT NULL DEFAULT 0 CHECK (half IN (0, 1)),
    attempt       INTEGER NOT NULL DEFAULT 1,
    rounds_done   INTEGER NOT NULL DEFAULT 0,
    heard_by      INTEGER,
    version       INTEGER NOT NULL DEFAULT 0,
    resume_at     INTEGER,
    idle_nudge_at INTEGER,
    park_at       INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    closed_at     INTEGER,
    ended_by      INTEGER
);
INSERT INTO conflict_conversations_new SELECT * FROM conflict_conversations;
DROP TABLE conflict_conversations;
ALTER TABLE conflict_conversations_new RENAME TO conflict_conversations;
CREATE UNIQUE INDEX conflict_one_open ON conflict_conversations(couple_id)
    WHERE state NOT IN ('closed', 'ended');
CREATE INDEX conflict_resume ON conflict_conversations(resume_at) WHERE resume_at IS NOT NULL;
CREATE INDEX conflict_idle ON conflict_conversations(idle_nudge_at)
    WHERE idle_nudge_at IS NOT NULL;
CREATE INDEX conflict_park ON conflict_conversations(park_at) WHERE park_at IS NOT NULL;

CREATE TABLE promises_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    couple_id    INTEGER NOT NULL REFERENCES couples(id) ON DELETE CASCADE,
    promiser_id  INTEGER NOT NULL,
    partner_id   INTEGER NOT NULL,
    text         BLOB    NOT NULL,
    source       TEXT    NOT NULL DEFAULT 'own' CHECK (source IN ('own', 'conflict')),
    state        TEXT    NOT NULL DEFAULT 'open'
                 CHECK (state IN ('open', 'asked', 'claimed', 'kept', 'missed')),
    version      INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    ask_at       INTEGER,
    asks         INTEGER NOT NULL DEFAULT 0,
    resolved_at  INTEGER
);
INSERT INTO promises_new SELECT * FROM promises;
DROP TABLE promises;
ALTER TABLE promises_new RENAME TO promises;
CREATE INDEX promises_couple ON promises(couple_id, state);
CREATE INDEX promises_ask ON promises(ask_at) WHERE ask_at IS NOT NULL;
CREATE INDEX promises_promiser ON promises(promiser_id);
CREATE INDEX promises_partner ON promises(partner_id);

-- Start each sequence above every id an existing outbox key names (an erased row's key
-- outlives the row).
INSERT INTO sqlite_sequence (name, seq)
SELECT t.name, 0 FROM (SELECT 'couples' AS name UNION ALL SELECT 'checkins'
    UNION ALL SELECT 'conflict_conversations' UNION ALL SELECT 'promises') t
WHERE t.name NOT IN (SELECT name FROM sqlite_sequence);
UPDATE sqlite_sequence SET seq = MAX(seq,
    COALESCE((SELECT MAX(CAST(substr(key, 9, instr(substr(key, 9), ':') - 1) AS INTEGER))
              FROM outbox WHERE key LIKE 'summary:%'), 0),
    COALESCE((SELECT MAX(id) FROM couples), 0))
WHERE name = 'couples';
UPDATE sqlite_sequence SET seq = MAX(seq,
    COALESCE((SELECT MAX(CAST(substr(key, 4, instr(substr(key, 4), ':') - 1) AS INTEGER))
              FROM outbox WHERE key LIKE 'ci:%'), 0),
    COALESCE((SELECT MAX(id) FROM checkins), 0))
WHERE name = 'checkins';
UPDATE sqlite_sequence SET seq = MAX(seq,
    COALESCE((SELECT MAX(CAST(substr(key, 10, instr(substr(key, 10), ':') - 1) AS INTEGER))
              FROM outbox WHERE key LIKE 'conflict:%'), 0),
    COALESCE((SELECT MAX(id) FROM conflict_conversations), 0))
WHERE name = 'conflict_conversations';
UPDATE sqlite_sequence SET seq = MAX(seq,
    COALESCE((SELECT MAX(CAST(substr(key, 9, instr(substr(key, 9), ':') - 1) AS INTEGER))
              FROM outbox WHERE key LIKE 'promise:%'), 0),
    COALESCE((SELECT MAX(id) FROM promises), 0))
WHERE name = 'promises';

-- The placeholder that takes an erased partner's place in what the other partner keeps
-- (a couple's user_a/user_b, the partner named in a promise or a thank-you). Shown as
-- "your former partner"; never has a chat.
INSERT OR IGNORE INTO users (id, first_name, private_chat, reachable, created_at)
VALUES (0, '', 0, 0, 0);

-- Typed text that two flows could take: kept (encrypted) until its writer says which.
CREATE TABLE held_texts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    text        BLOB    NOT NULL,                 -- encrypted
    route       TEXT    NOT NULL,                 -- the users.awaiting it could also answer
    created_at  INTEGER NOT NULL
);
CREATE INDEX held_texts_user ON held_texts(user_id);

CREATE INDEX checkin_progress_user ON checkin_progress(user_id);

-- A couple whose check-in time already falls inside the default quiet hours keeps it;
-- their quiet hours start off (they can set them in /settings).
UPDATE couples SET quiet_start = '00:00', quiet_end = '00:00'
WHERE local_time >= '22:00' OR local_time < '08:00';

-- A scheduled message waits until this moment (the end of the couple's quiet hours).
ALTER TABLE outbox ADD COLUMN not_before INTEGER;
