-- Admission per interval does not depend on the number of instances (crates/domain/src/admission.rs,
-- crates/adapters-postgres/src/queue.rs). Every instance runs admission ticks; the database decides
-- what a tick may admit. Time is cut into slots of QUEUE_ADMIT_INTERVAL_MS counted from the Unix
-- epoch, read from the database's clock, and a concert admits at most its batch per slot: a tick
-- (under the concert's advisory lock) admits only what the slot's batch has left, then records it.
ALTER TABLE concert_queues
    -- start of the slot of the latest admission that admitted anybody (null: none yet)
    ADD COLUMN admission_slot   TIMESTAMPTZ,
    -- tokens admitted in that slot so far
    ADD COLUMN admitted_in_slot INTEGER NOT NULL DEFAULT 0 CHECK (admitted_in_slot >= 0);
