DROP INDEX queue_tokens_idle_by_concert;
CREATE INDEX queue_tokens_idle_by_concert ON queue_tokens (concert_id, last_polled_at)
    WHERE status = 'WAITING';
