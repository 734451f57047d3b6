DROP FUNCTION pay_once(bigint, text, text, uuid, uuid, uuid, uuid, boolean, boolean, boolean, integer);
DROP FUNCTION charge_once(bigint, text, text, uuid, bigint, bigint, integer);
DROP FUNCTION claim_idempotency_key(bigint, text, text, integer);
DROP TYPE money_call_result;
