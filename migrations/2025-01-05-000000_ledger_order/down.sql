DROP TRIGGER ledger_entries_seq ON ledger_entries;
DROP FUNCTION ledger_entry_seq();
CREATE INDEX ledger_entries_user_newest ON ledger_entries (user_id, created_at DESC, id DESC);
ALTER TABLE ledger_entries DROP COLUMN seq;
ALTER TABLE wallets DROP COLUMN ledger_seq;
