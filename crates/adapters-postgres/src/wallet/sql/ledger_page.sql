-- One page of a wallet's ledger, newest first in the wallet's own order (seq, numbered under
-- the wallet's lock as the balance changed): $1 user, $2 the cursor's entry id, $3 how many.
SELECT id, user_id, kind, amount, balance_after, reference, created_at
FROM ledger_entries WHERE user_id = $1
  AND ($2::uuid IS NULL OR seq < (
      SELECT c.seq FROM ledger_entries c WHERE c.id = $2 AND c.user_id = $1))
ORDER BY seq DESC LIMIT $3
