-- Delivery order: the outbox claims only a chat's oldest owed row (bot/outbox.py); this
-- index answers "is an older row of this chat still owed?" without scanning its history.
CREATE INDEX outbox_chat_owed ON outbox(chat_id, id) WHERE sent_at IS NULL AND failed IS NULL;
