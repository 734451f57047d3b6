-- one-row insert (a queue join's INSERT, without the rest of the join)
\set u random(1, 100000000)
INSERT INTO c_insert (id, user_id, concert_id, seq, status) VALUES (gen_random_uuid(), :u, 1, :u, 'WAITING');
