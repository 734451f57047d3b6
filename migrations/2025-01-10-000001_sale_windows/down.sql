-- Back to 2025-01-09-000000_guards_without_switches. Pre-queue places are dropped (EXPIRED).
UPDATE queue_tokens SET status = 'EXPIRED', departed_waiting = true WHERE status = 'PRE_QUEUE';

CREATE OR REPLACE FUNCTION queue_token_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.status = 'EXPIRED' AND NEW.status <> 'EXPIRED')
        OR (OLD.status = 'ACTIVE' AND NEW.status = 'WAITING') THEN
        RAISE EXCEPTION 'queue token % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'queue_tokens_transition';
    END IF;
    RETURN NEW;
END;
$$;

DROP INDEX queue_tokens_pre_queue_idle;
DROP INDEX queue_tokens_pre_queue;
DROP INDEX queue_tokens_one_live;
CREATE UNIQUE INDEX queue_tokens_one_live ON queue_tokens (user_id, concert_id)
    WHERE status IN ('WAITING', 'ACTIVE');
ALTER TABLE queue_tokens DROP CONSTRAINT queue_tokens_status_check;
ALTER TABLE queue_tokens ADD CONSTRAINT queue_tokens_status_check
    CHECK (status IN ('WAITING', 'ACTIVE', 'EXPIRED'));

DROP FUNCTION sale_draw_due(timestamptz, timestamptz);
DROP TABLE queue_draws;
ALTER TABLE concert_queues
    DROP CONSTRAINT concert_queues_drawn_after_opening,
    DROP CONSTRAINT concert_queues_sale_order,
    DROP COLUMN drawn_at,
    DROP COLUMN sale_closes_at,
    DROP COLUMN sale_opens_at;
