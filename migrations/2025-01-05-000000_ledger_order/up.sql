-- The ledger reads like a bank statement: within one wallet, entries are numbered 1, 2, 3, ...
-- in the order in which the balance changed, and the history is read in that order.
--
-- `created_at` is the transaction's start (now()), taken before the transaction waits for the
-- wallet's row lock, so two concurrent money movements of one wallet could commit their
-- balances in one order and carry timestamps in the other: read newest first, such a history
-- had `balance_after` values its amounts could not produce.
--
-- The number is taken from the wallet row (`wallets.ledger_seq`, the last number issued) by an
-- UPDATE in a BEFORE INSERT trigger. Every writer of a ledger entry has already changed (and so
-- row-locked) that wallet's balance in the same transaction, and holds the lock until it
-- commits; the next writer's balance change waits for that commit, and so does its number.
-- Numbers therefore follow the order of the balance changes, whichever function or batch wrote
-- the entry, without touching the money functions themselves.

ALTER TABLE wallets
    ADD COLUMN ledger_seq BIGINT NOT NULL DEFAULT 0 CONSTRAINT wallets_ledger_seq_check CHECK (ledger_seq >= 0);
ALTER TABLE ledger_entries ADD COLUMN seq BIGINT;

-- Existing entries keep the order they were listed in until now (created_at, id). The append-only
-- trigger is set aside for this one statement.
ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only;
UPDATE ledger_entries l SET seq = n.seq
  FROM (SELECT id, row_number() OVER (PARTITION BY user_id ORDER BY created_at, id) AS seq
          FROM ledger_entries) n
 WHERE n.id = l.id;
ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only;
UPDATE wallets w SET ledger_seq = l.last
  FROM (SELECT user_id, max(seq) AS last FROM ledger_entries GROUP BY user_id) l
 WHERE l.user_id = w.user_id;

ALTER TABLE ledger_entries
    ALTER COLUMN seq SET NOT NULL,
    ADD CONSTRAINT ledger_entries_seq_check CHECK (seq > 0),
    -- one place per number in a wallet's statement; also the index the history is read by
    ADD CONSTRAINT ledger_entries_user_seq_key UNIQUE (user_id, seq);
DROP INDEX ledger_entries_user_newest;

-- Numbers an entry: the wallet's next number, taken under the wallet's row lock. A number given
-- by the writer is ignored.
CREATE FUNCTION ledger_entry_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE wallets SET ledger_seq = ledger_seq + 1 WHERE user_id = NEW.user_id
    RETURNING ledger_seq INTO NEW.seq;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger entry % for user % who has no wallet', NEW.id, NEW.user_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'ledger_entries_user_id_fkey';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_entries_seq BEFORE INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_seq();
