-- Small facts about the running bot, one row each (bot/operations.py):
--   'last_sweep' : when the last sweep finished, Unix seconds (read by `python -m bot health`)
--   'key_check'  : a Fernet token of a fixed text, made with the data key; if it does not
--                  decrypt, the key given is not the one the stored text was written with.
-- Never any user's words, never the key itself.
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) WITHOUT ROWID;
