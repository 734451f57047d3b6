-- primary-key select (a token lookup)
\set id random(1, 100000)
SELECT id, user_id, status, active_until FROM c_kv WHERE id = :id;
