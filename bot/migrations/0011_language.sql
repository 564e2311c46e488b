-- Each partner's own language (issue 16). `users.language` is a catalogue tag ('en', 'es',
-- 'ru'), taken from Telegram's language_code on first contact and changed with /language.
-- `couples.group_language` is the language of the couple's shared group; NULL means the
-- inviter's (user_a), changeable in /settings.
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
ALTER TABLE couples ADD COLUMN group_language TEXT;
