-- Promises, appreciations and weekly summaries.

-- A small promise from one partner to the other. State machine (bot/promises.py):
--   open -> asked (due: partner asked Kept / Not yet / Missed)
--   open|asked -> claimed (promiser says done; partner confirms)
--   asked|claimed -> kept | missed | open (Not yet: due moves 3 days, asked once more)
-- `version` grows on every transition so a stale button cannot act twice.
CREATE TABLE promises (
    id           INTEGER PRIMARY KEY,
    couple_id    INTEGER NOT NULL REFERENCES couples(id) ON DELETE CASCADE,
    promiser_id  INTEGER NOT NULL,
    partner_id   INTEGER NOT NULL,
    text         BLOB    NOT NULL,                -- encrypted
    source       TEXT    NOT NULL DEFAULT 'own' CHECK (source IN ('own', 'conflict')),
    state        TEXT    NOT NULL DEFAULT 'open'
                 CHECK (state IN ('open', 'asked', 'claimed', 'kept', 'missed')),
    version      INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    ask_at       INTEGER,                         -- next due ask; NULL when none is owed
    asks         INTEGER NOT NULL DEFAULT 0,      -- due asks sent so far (at most 2)
    resolved_at  INTEGER
);
CREATE INDEX promises_couple ON promises(couple_id, state);
CREATE INDEX promises_ask ON promises(ask_at) WHERE ask_at IS NOT NULL;
CREATE INDEX promises_promiser ON promises(promiser_id);
CREATE INDEX promises_partner ON promises(partner_id);

-- /thanks: the text stays between the two; the summary counts them.
CREATE TABLE appreciations (
    id          INTEGER PRIMARY KEY,
    couple_id   INTEGER NOT NULL REFERENCES couples(id) ON DELETE CASCADE,
    from_id     INTEGER NOT NULL,
    to_id       INTEGER NOT NULL,
    text        BLOB    NOT NULL,                 -- encrypted
    created_at  INTEGER NOT NULL,
    reacted_at  INTEGER
);
CREATE INDEX appreciations_couple ON appreciations(couple_id, created_at);
CREATE INDEX appreciations_from ON appreciations(from_id);
CREATE INDEX appreciations_to ON appreciations(to_id);

-- One summary per couple and check-in week, kept so /summary and /history can show it again.
CREATE TABLE summaries (
    id          INTEGER PRIMARY KEY,
    couple_id   INTEGER NOT NULL REFERENCES couples(id) ON DELETE CASCADE,
    week        TEXT    NOT NULL,
    checkin_id  INTEGER REFERENCES checkins(id) ON DELETE SET NULL,
    headline    BLOB    NOT NULL,                 -- encrypted one-line digest for /history
    text        BLOB    NOT NULL,                 -- encrypted rendered HTML
    created_at  INTEGER NOT NULL,
    UNIQUE (couple_id, week)
);
-- The summary sweep looks only at recently closed check-ins (it must not scan them all).
CREATE INDEX checkins_closed ON checkins(closed_at) WHERE status IN ('revealed', 'expired');
