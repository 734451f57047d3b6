-- Admission, step 0: the concerts a tick may admit from: someone in line, not paused, and a
-- slot that has not admitted its batch yet (a recorded slot that started an interval or more
-- ago has ended); $1 the admit interval (µs), $2 the default batch. Only a filter: the decision
-- is taken under the concert's lock.
SELECT concert_id AS value FROM concert_queues
WHERE NOT paused AND next_seq > admitted_through
  AND (admission_slot IS NULL
       OR admission_slot <= now() - $1::float8 * interval '1 microsecond'
       OR admitted_in_slot < coalesce(admit_batch, $2))
ORDER BY concert_id
