-- /conflict that keeps its promises (issue 13). SQLite cannot change a CHECK in place, so
-- the three conflict tables are rebuilt (foreign keys are off during a migration, see
-- Database._migrate). Conversations keep AUTOINCREMENT and their sequence (0005): their
-- ids go into outbox keys and must never be reused.
--   conversations: state 'more' ("Is there more?"), paused_by (whose time-out it is),
--                  rules_shown (the full rules card was shown in this conversation),
--                  live_initiator/live_partner (the message holding the step's live
--                  keyboard in each chat; in a group, live_initiator is the group's)
--   turns:         'held' (sounds harsh, waiting for Send as it is / Rewrite), 'returned'
--                  (a non-request turned back once), 'withdrawn' ("let me try again")
--   agreements:    'willing' (the doer is putting it in their own words), 'none' ("I have
--                  no request"), `words` (the doer's own words, encrypted)

CREATE TEMP TABLE keep_turns AS SELECT * FROM conflict_turns;
CREATE TEMP TABLE keep_agreements AS SELECT * FROM agreements;
CREATE TEMP TABLE keep_sequence AS
    SELECT seq FROM sqlite_sequence WHERE name = 'conflict_conversations';
DROP TABLE conflict_turns;
DROP TABLE agreements;

CREATE TABLE conflict_conversations_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    couple_id     INTEGER NOT NULL REFERENCES couples(id) ON DELETE CASCADE,
    initiator     INTEGER NOT NULL,
    partner       INTEGER NOT NULL,
    group_chat_id INTEGER,                        -- NULL: relayed through both private chats
    topic         BLOB,                           -- encrypted; NULL until named
    state         TEXT    NOT NULL CHECK (state IN (
                      'topic', 'appointment', 'scheduled', 'rules', 'speaking', 'paraphrasing',
                      'confirming', 'more', 'correcting', 'validating', 'round_menu', 'requests',
                      'timeout', 'parked', 'closed', 'ended')),
    paused_state  TEXT,                           -- where 'timeout'/'parked' return to
    paused_by     INTEGER,                        -- who called the time-out: only they end it early
    speaker       INTEGER,
    listener      INTEGER,
    round         INTEGER NOT NULL DEFAULT 1,
    half          INTEGER NOT NULL DEFAULT 0 CHECK (half IN (0, 1)),  -- 1: roles swapped
    attempt       INTEGER NOT NULL DEFAULT 1,     -- paraphrase attempt in this half
    rounds_done   INTEGER NOT NULL DEFAULT 0,
    heard_by      INTEGER,                        -- first partner who said they feel heard
    version       INTEGER NOT NULL DEFAULT 0,     -- bumped on every transition; in callback data
    resume_at     INTEGER,                        -- end of a time-out / the appointment
    idle_nudge_at INTEGER,                        -- one nudge to whoever holds the turn
    park_at       INTEGER,                        -- active: 24 h idle; parked, never started: closes
    rules_shown   INTEGER NOT NULL DEFAULT 0,     -- the full rules card was shown here
    live_initiator INTEGER,                       -- message id of the live keyboard there
    live_partner  INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    closed_at     INTEGER,
    ended_by      INTEGER
);
INSERT INTO conflict_conversations_new (id, couple_id, initiator, partner, group_chat_id, topic,
    state, paused_state, speaker, listener, round, half, attempt, rounds_done, heard_by, version,
    resume_at, idle_nudge_at, park_at, rules_shown, created_at, updated_at, closed_at, ended_by)
SELECT id, couple_id, initiator, partner, group_chat_id, topic, state, paused_state, speaker,
    listener, round, half, attempt, rounds_done, heard_by, version, resume_at, idle_nudge_at,
    park_at, CASE WHEN state IN ('topic', 'appointment', 'scheduled') THEN 0 ELSE 1 END,
    created_at, updated_at, closed_at, ended_by
FROM conflict_conversations;
DROP TABLE conflict_conversations;
ALTER TABLE conflict_conversations_new RENAME TO conflict_conversations;
INSERT INTO sqlite_sequence (name, seq) SELECT 'conflict_conversations', 0
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'conflict_conversations');
UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT MAX(seq) FROM keep_sequence), 0))
WHERE name = 'conflict_conversations';
CREATE UNIQUE INDEX conflict_one_open ON conflict_conversations(couple_id)
    WHERE state NOT IN ('closed', 'ended');
CREATE INDEX conflict_resume ON conflict_conversations(resume_at) WHERE resume_at IS NOT NULL;
CREATE INDEX conflict_idle ON conflict_conversations(idle_nudge_at)
    WHERE idle_nudge_at IS NOT NULL;
CREATE INDEX conflict_park ON conflict_conversations(park_at) WHERE park_at IS NOT NULL;

CREATE TABLE conflict_turns (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conflict_conversations(id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL,
    round           INTEGER NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN (
                        'speak', 'paraphrase', 'correction', 'validation', 'kept', 'held',
                        'returned', 'withdrawn')),
    text            BLOB    NOT NULL,             -- encrypted
    at              INTEGER NOT NULL
);
INSERT INTO conflict_turns SELECT * FROM keep_turns;
CREATE INDEX conflict_turns_conv ON conflict_turns(conversation_id, kind, user_id);
CREATE INDEX conflict_turns_user ON conflict_turns(user_id);

CREATE TABLE agreements (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conflict_conversations(id) ON DELETE CASCADE,
    couple_id       INTEGER NOT NULL REFERENCES couples(id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN ('request', 'offer')),
    author          INTEGER NOT NULL,
    decider         INTEGER NOT NULL,
    doer            INTEGER NOT NULL,
    text            BLOB    NOT NULL,             -- encrypted; the author's words
    words           BLOB,                         -- encrypted; the doer's own "I will …"
    status          TEXT    NOT NULL DEFAULT 'proposed'
                    CHECK (status IN ('proposed', 'willing', 'accepted', 'declined', 'none')),
    follow_up_at    INTEGER,                      -- set when accepted
    created_at      INTEGER NOT NULL,
    decided_at      INTEGER,
    UNIQUE (conversation_id, author, kind)
);
INSERT INTO agreements (id, conversation_id, couple_id, kind, author, decider, doer, text,
    words, status, follow_up_at, created_at, decided_at)
SELECT id, conversation_id, couple_id, kind, author, decider, doer, text,
    CASE WHEN kind = 'offer' THEN text END, status, follow_up_at, created_at, decided_at
FROM keep_agreements;
CREATE INDEX agreements_follow_up ON agreements(follow_up_at) WHERE status = 'accepted';
-- An invitation already parked before it ever started closes a week after it was opened.
UPDATE conflict_conversations SET park_at = created_at + 7 * 24 * 3600
WHERE state = 'parked' AND paused_state IN ('topic', 'appointment', 'scheduled');
DROP TABLE keep_turns;
DROP TABLE keep_agreements;
DROP TABLE keep_sequence;
