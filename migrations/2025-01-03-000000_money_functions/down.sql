DROP TRIGGER schedules_concert_fixed ON schedules;
DROP FUNCTION schedule_concert_fixed();
DROP FUNCTION pay_once(bigint, text, text, uuid, uuid, uuid, uuid, boolean, boolean, boolean, integer);
DROP FUNCTION charge_once(bigint, text, text, uuid, bigint, bigint, integer);
DROP FUNCTION record_idempotent_outcome(bigint, text, money_call_result);
DROP FUNCTION claim_idempotency_key(bigint, text, text, integer);
DROP TYPE money_call_result;
