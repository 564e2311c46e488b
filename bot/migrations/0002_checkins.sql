-- Weekly check-ins: one per couple and couple-local ISO week.

CREATE TABLE checkins (
    id          INTEGER PRIMARY KEY,
    couple_id   INTEGER NOT NULL REFERENCES couples(id) ON DELETE CASCADE,
    week        TEXT    NOT NULL,                 -- couple-local ISO week, '2026-W48'
    items       TEXT    NOT NULL,                 -- JSON list of question ids, in order
    status      TEXT    NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'revealed', 'expired')),
    opened_at   INTEGER NOT NULL,
    remind_at   INTEGER,                          -- NULL once the reminder went (or none due)
    closes_at   INTEGER NOT NULL,
    closed_at   INTEGER,
    UNIQUE (couple_id, week)
);
CREATE INDEX checkins_remind ON checkins(remind_at) WHERE status = 'open' AND remind_at IS NOT NULL;
CREATE INDEX checkins_closing ON checkins(closes_at) WHERE status = 'open';

-- Where each partner is: item `position` (0-based), answering the scale or the note.
CREATE TABLE checkin_progress (
    checkin_id   INTEGER NOT NULL REFERENCES checkins(id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL,
    position     INTEGER NOT NULL DEFAULT 0,
    stage        TEXT    NOT NULL DEFAULT 'answer' CHECK (stage IN ('answer', 'note', 'done')),
    message_id   INTEGER,                         -- the question message, edited in place
    finished_at  INTEGER,
    PRIMARY KEY (checkin_id, user_id)
);

CREATE TABLE answers (
    checkin_id   INTEGER NOT NULL REFERENCES checkins(id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL,
    question_id  TEXT    NOT NULL,
    theme        TEXT    NOT NULL,
    value        INTEGER CHECK (value BETWEEN 1 AND 5),   -- scale questions
    text         BLOB,                                    -- encrypted open answer
    note         BLOB,                                    -- encrypted optional note
    answered_at  INTEGER NOT NULL,
    PRIMARY KEY (checkin_id, user_id, question_id)
);
CREATE INDEX answers_user ON answers(user_id);
