ALTER TABLE concert_queues
    DROP COLUMN admitted_in_slot,
    DROP COLUMN admission_slot;
