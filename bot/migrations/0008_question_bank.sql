-- The question bank reaches every couple in full (issue 14).

-- When each question was last asked of a couple: all the week composer needs to ask
-- every question in turn and none again within eight weeks (bot/composition.py).
-- One row per couple and question, so it stays small however long a couple stays.
CREATE TABLE asked (
    couple_id    INTEGER NOT NULL REFERENCES couples(id) ON DELETE CASCADE,
    question_id  TEXT    NOT NULL,
    week         TEXT    NOT NULL,                -- couple-local ISO week, '2026-W48'
    PRIMARY KEY (couple_id, question_id)
) WITHOUT ROWID;

INSERT INTO asked (couple_id, question_id, week)
SELECT c.couple_id, j.value, MAX(c.week)
FROM checkins c, json_each(c.items) j
GROUP BY c.couple_id, j.value;

-- "Didn't come up" is stored like "Prefer not to say" (0006_safety.sql): value NULL and
-- answers.skip = 'na' (beside 'private'); neither ever counts in a score.
