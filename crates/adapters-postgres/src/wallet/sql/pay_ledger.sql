-- The payments' ledger entries: $1 entry ids, $2 users, $3 amounts (negative), $4 balances
-- after, $5 payment ids. The wallet's entry number (seq) is given by a trigger.
INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, reference, payment_id)
SELECT e.id, e.u, 'PAYMENT', e.amount, e.after, e.p::text, e.p
FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::uuid[])
    AS e(id, u, amount, after, p)
