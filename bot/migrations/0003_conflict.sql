-- /conflict: one guided, turn-taking conversation per couple at a time.
-- Free text (topic, turns, requests) is encrypted; deadlines are columns the sweep scans.

CREATE TABLE conflict_conversations (
    id            INTEGER PRIMARY KEY,
    couple_id     INTEGER NOT NULL REFERENCES couples(id) ON DELETE CASCADE,
    initiator     INTEGER NOT NULL,
    partner       INTEGER NOT NULL,
    group_chat_id INTEGER,                        -- NULL: relayed through both private chats
    topic         BLOB,                           -- encrypted; NULL until named
    state         TEXT    NOT NULL CHECK (state IN (
                      'topic', 'appointment', 'scheduled', 'rules', 'speaking', 'paraphrasing',
                      'confirming', 'correcting', 'validating', 'round_menu', 'requests',
                      'timeout', 'parked', 'closed', 'ended')),
    paused_state  TEXT,                           -- where 'timeout'/'parked' return to
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
    park_at       INTEGER,                        -- 24 h without activity
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    closed_at     INTEGER,
    ended_by      INTEGER
);
CREATE UNIQUE INDEX conflict_one_open ON conflict_conversations(couple_id)
    WHERE state NOT IN ('closed', 'ended');
CREATE INDEX conflict_resume ON conflict_conversations(resume_at) WHERE resume_at IS NOT NULL;
CREATE INDEX conflict_idle ON conflict_conversations(idle_nudge_at)
    WHERE idle_nudge_at IS NOT NULL;
CREATE INDEX conflict_park ON conflict_conversations(park_at) WHERE park_at IS NOT NULL;

-- Everything each partner wrote, for the couple's own history and export.
-- kind 'kept': written out of turn, waiting to join the writer's next turn.
CREATE TABLE conflict_turns (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conflict_conversations(id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL,
    round           INTEGER NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN (
                        'speak', 'paraphrase', 'correction', 'validation', 'kept')),
    text            BLOB    NOT NULL,             -- encrypted
    at              INTEGER NOT NULL
);
CREATE INDEX conflict_turns_conv ON conflict_turns(conversation_id, kind, user_id);
CREATE INDEX conflict_turns_user ON conflict_turns(user_id);

-- Requests ("would you be willing to…") and offers ("I will…"), one of each per partner.
-- `doer` will do it; `decider` accepts or declines. Accepted ones become promises.
CREATE TABLE agreements (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conflict_conversations(id) ON DELETE CASCADE,
    couple_id       INTEGER NOT NULL REFERENCES couples(id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN ('request', 'offer')),
    author          INTEGER NOT NULL,
    decider         INTEGER NOT NULL,
    doer            INTEGER NOT NULL,
    text            BLOB    NOT NULL,             -- encrypted
    status          TEXT    NOT NULL DEFAULT 'proposed'
                    CHECK (status IN ('proposed', 'accepted', 'declined')),
    follow_up_at    INTEGER,                      -- set when accepted
    created_at      INTEGER NOT NULL,
    decided_at      INTEGER,
    UNIQUE (conversation_id, author, kind)
);
CREATE INDEX agreements_follow_up ON agreements(follow_up_at) WHERE status = 'accepted';
