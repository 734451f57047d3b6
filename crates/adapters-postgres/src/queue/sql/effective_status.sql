-- A token's effective status by the database's clock: an ACTIVE token past its window, a
-- WAITING token idle past the timeout or passed by admission, and a PRE_QUEUE token idle past
-- the timeout are EXPIRED whether or not a sweep ran. {idle} is the idle cutoff.
CASE
    WHEN t.status = 'ACTIVE' AND t.active_until <= now() THEN 'EXPIRED'
    WHEN t.status = 'PRE_QUEUE' AND t.last_polled_at <= {idle} THEN 'EXPIRED'
    WHEN t.status = 'WAITING'
         AND (t.last_polled_at <= {idle} OR t.seq <= q.admitted_through) THEN 'EXPIRED'
    ELSE t.status END
