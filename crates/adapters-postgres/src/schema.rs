//! diesel table definitions, mirroring `migrations/` (the migrations are the source of truth).

#![allow(missing_docs)]

diesel::table! {
    concerts (id) {
        id -> BigInt,
        title -> Text,
        venue -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    schedules (id) {
        id -> BigInt,
        concert_id -> BigInt,
        starts_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    seats (id) {
        id -> BigInt,
        schedule_id -> BigInt,
        number -> Text,
        grade -> Text,
        price -> BigInt,
    }
}

diesel::table! {
    concert_queues (concert_id) {
        concert_id -> BigInt,
        next_seq -> BigInt,
        admitted_through -> BigInt,
        admit_batch -> Nullable<Integer>,
        max_active -> Nullable<Integer>,
        paused -> Bool,
        admission_slot -> Nullable<Timestamptz>,
        admitted_in_slot -> Integer,
    }
}

diesel::table! {
    queue_tokens (id) {
        id -> Uuid,
        user_id -> BigInt,
        concert_id -> BigInt,
        seq -> BigInt,
        status -> Text,
        issued_at -> Timestamptz,
        last_polled_at -> Timestamptz,
        admitted_at -> Nullable<Timestamptz>,
        active_until -> Nullable<Timestamptz>,
        departed_waiting -> Bool,
    }
}

diesel::table! {
    queue_admissions (id) {
        id -> BigInt,
        concert_id -> BigInt,
        admitted_at -> Timestamptz,
        admitted -> Integer,
    }
}

diesel::table! {
    reservations (id) {
        id -> Uuid,
        user_id -> BigInt,
        schedule_id -> BigInt,
        status -> Text,
        total_price -> BigInt,
        held_until -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    reservation_seats (reservation_id, seat_id) {
        reservation_id -> Uuid,
        schedule_id -> BigInt,
        seat_id -> BigInt,
        price -> BigInt,
        live -> Bool,
    }
}

diesel::table! {
    wallets (user_id) {
        user_id -> BigInt,
        balance -> BigInt,
        updated_at -> Timestamptz,
        ledger_seq -> BigInt,
    }
}

diesel::table! {
    payments (id) {
        id -> Uuid,
        reservation_id -> Uuid,
        user_id -> BigInt,
        amount -> BigInt,
        paid_at -> Timestamptz,
    }
}

diesel::table! {
    ledger_entries (id) {
        id -> Uuid,
        user_id -> BigInt,
        kind -> Text,
        amount -> BigInt,
        balance_after -> BigInt,
        reference -> Nullable<Text>,
        payment_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        seq -> BigInt,
    }
}

diesel::table! {
    idempotency_records (user_id, key) {
        user_id -> BigInt,
        key -> Text,
        fingerprint -> Text,
        outcome -> Text,
        rejection -> Nullable<Text>,
        transaction_id -> Nullable<Uuid>,
        payment_id -> Nullable<Uuid>,
        reservation_id -> Nullable<Uuid>,
        amount -> Nullable<BigInt>,
        balance -> Nullable<BigInt>,
        occurred_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(schedules -> concerts (concert_id));
diesel::joinable!(seats -> schedules (schedule_id));
diesel::joinable!(queue_tokens -> concert_queues (concert_id));
diesel::joinable!(reservations -> schedules (schedule_id));
diesel::joinable!(reservation_seats -> reservations (reservation_id));
diesel::joinable!(reservation_seats -> seats (seat_id));
diesel::joinable!(ledger_entries -> wallets (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    concerts,
    schedules,
    seats,
    concert_queues,
    queue_tokens,
    queue_admissions,
    reservations,
    reservation_seats,
    wallets,
    payments,
    ledger_entries,
    idempotency_records,
);
