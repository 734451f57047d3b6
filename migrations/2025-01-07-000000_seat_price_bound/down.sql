ALTER TABLE seats DROP CONSTRAINT seats_price_max;
