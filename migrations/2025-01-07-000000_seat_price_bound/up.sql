-- A seat costs at most 100,000,000 KRW (domain::SEAT_PRICE_MAX). A reservation holds seats of
-- one schedule (at most 10,000 of them, domain::MAX_SEATS_PER_SCHEDULE), so no total price can
-- overflow BIGINT. The service refuses a higher price before it reaches the store; this CHECK
-- keeps any other writer to the same rule.
ALTER TABLE seats
    ADD CONSTRAINT seats_price_max CHECK (price <= 100000000);
