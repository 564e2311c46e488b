-- Safety: held words, "Prefer not to say" and "Only for me" (bot/safety.py).

-- Words a safety rule held back from the partner. `state`: held (waiting for the
-- writer's choice) -> shared | kept; withheld (a threat: never delivered); visible
-- (typed in the couple's group, already seen there: never repeated by the bot).
CREATE TABLE safety_holds (
    id          INTEGER PRIMARY KEY,
    couple_id   INTEGER REFERENCES couples(id) ON DELETE CASCADE,
    writer_id   INTEGER NOT NULL,
    partner_id  INTEGER,
    kind        TEXT    NOT NULL CHECK (kind IN ('self_harm', 'threat', 'control')),
    source      TEXT    NOT NULL,                 -- note, answer, conflict, promise, thanks
    ref         TEXT,                             -- e.g. '<checkin id>:<question id>'
    text        BLOB    NOT NULL,                 -- encrypted, like every text a user writes
    state       TEXT    NOT NULL
                CHECK (state IN ('held', 'shared', 'kept', 'withheld', 'visible')),
    created_at  INTEGER NOT NULL,
    decided_at  INTEGER
);
CREATE INDEX safety_holds_couple ON safety_holds(couple_id, created_at);
CREATE INDEX safety_holds_writer ON safety_holds(writer_id);
CREATE INDEX safety_holds_partner ON safety_holds(partner_id);

-- An item answered without a value: 'private' = "Prefer not to say" (issue 14 adds
-- 'na' = "Didn't come up"). Never counted in scores; shown as "—" in the reveal.
ALTER TABLE answers ADD COLUMN skip TEXT;
-- 1: the words of this answer (its note, or an open answer) are the writer's alone:
-- "Only for me", or held by a safety rule and not (yet) shared.
ALTER TABLE answers ADD COLUMN words_private INTEGER NOT NULL DEFAULT 0;

-- Only the promiser reports on a promise; the partner may thank or ask to talk.
-- 'claimed' (a partner's confirmation) is no longer used.
UPDATE promises SET state = 'open' WHERE state = 'claimed';
ALTER TABLE promises ADD COLUMN reaction TEXT;  -- thanked | talk (the partner's one reply)
