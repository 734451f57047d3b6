-- Sale windows and the pre-queue draw (API v1.1, crates/domain/src/sale.rs and draw.rs).
--
-- A concert's sale window lives on its queue row, next to the counters a join takes its place
-- from: a join, the draw and an operator's change of the window all lock that one row, so none
-- of them can cross another (docs/concurrency.md, "Sale windows").
ALTER TABLE concert_queues
    -- joins before this wait in the pre-queue (PRE_QUEUE), drawn at the first tick after it
    ADD COLUMN sale_opens_at  TIMESTAMPTZ,
    -- joins from this on are refused (SALE_CLOSED)
    ADD COLUMN sale_closes_at TIMESTAMPTZ,
    -- when the pre-queue was drawn (null: not yet); a draw happens once
    ADD COLUMN drawn_at       TIMESTAMPTZ,
    ADD CONSTRAINT concert_queues_sale_order CHECK (sale_closes_at > sale_opens_at),
    ADD CONSTRAINT concert_queues_drawn_after_opening
        CHECK (drawn_at IS NULL OR sale_opens_at IS NOT NULL);

-- One row per draw: when, with which seed (the shuffle is crates/domain/src/draw.rs, so the
-- seed replays it), and how many tokens it placed. The unique index is the schema's backstop
-- of "drawn once"; the guard is sale_draw_due below, checked under the queue row's lock.
CREATE TABLE queue_draws (
    concert_id BIGINT      NOT NULL REFERENCES concert_queues (concert_id),
    drawn_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    seed       BIGINT      NOT NULL,
    drawn      INTEGER     NOT NULL CHECK (drawn >= 0)
);
CREATE UNIQUE INDEX queue_draws_once ON queue_draws (concert_id);

-- Whether a concert's draw is due now: its sale has an opening that has come, and it has not
-- been drawn. The draw locks the queue row with this condition, so of several instances
-- ticking at the opening exactly one draws (crates/domain/src/sale.rs, draw_due).
CREATE FUNCTION sale_draw_due(p_opens_at timestamptz, p_drawn_at timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_drawn_at IS NULL AND p_opens_at <= now()
$$;

-- A token's status gains PRE_QUEUE: joined before the sale opened, waiting for the draw.
ALTER TABLE queue_tokens DROP CONSTRAINT queue_tokens_status_check;
ALTER TABLE queue_tokens ADD CONSTRAINT queue_tokens_status_check
    CHECK (status IN ('PRE_QUEUE', 'WAITING', 'ACTIVE', 'EXPIRED'));

-- One live place per user and concert counts a pre-queue place too.
DROP INDEX queue_tokens_one_live;
CREATE UNIQUE INDEX queue_tokens_one_live ON queue_tokens (user_id, concert_id)
    WHERE status IN ('PRE_QUEUE', 'WAITING', 'ACTIVE');
-- The draw reads a concert's pre-queue in arrival order; the stats count it.
CREATE INDEX queue_tokens_pre_queue ON queue_tokens (concert_id, seq) WHERE status = 'PRE_QUEUE';
-- The idle sweep of pre-queue places.
CREATE INDEX queue_tokens_pre_queue_idle ON queue_tokens (last_polled_at)
    WHERE status = 'PRE_QUEUE';

-- EXPIRED is final, an admitted token never goes back, and PRE_QUEUE is only ever left for
-- WAITING (the draw) or EXPIRED: nobody enters the pre-queue from the line, and nobody is
-- admitted without a drawn place.
CREATE OR REPLACE FUNCTION queue_token_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.status = 'EXPIRED' AND NEW.status <> 'EXPIRED')
        OR (OLD.status = 'ACTIVE' AND NEW.status IN ('WAITING', 'PRE_QUEUE'))
        OR (OLD.status = 'WAITING' AND NEW.status = 'PRE_QUEUE')
        OR (OLD.status = 'PRE_QUEUE' AND NEW.status = 'ACTIVE') THEN
        RAISE EXCEPTION 'queue token % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'queue_tokens_transition';
    END IF;
    RETURN NEW;
END;
$$;
