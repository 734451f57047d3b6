//! `benchtool`: helpers of `scripts/bench`.
//!
//! * `benchtool lines SECRET TTL_SECS` — reads CSV lines whose first field is a user id from
//!   standard input and writes each line with an HS256 JWT for that user put in front
//!   (`jwt,user,rest...`), for the wrk Lua scripts to cycle through.
//! * `benchtool journey BASE SECRET CONCERT FIRST_USER CONCURRENCY SECS` — the full journey as a
//!   scenario, each virtual user a new user: join the queue, poll until ACTIVE, list the
//!   schedules, list the seats of one, hold a free seat (a 409 picks another), charge the wallet
//!   the price, pay. Bounded in time: no journey starts after SECS; requests time out after 10 s.
//!   Prints `RESULT key=value ...` (journeys/s, requests/s, latency percentiles in ms, errors)
//!   and one `STEP name key=value ...` line per step.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(serde::Serialize)]
struct Claims {
    sub: String,
    exp: u64,
}

fn jwt(key: &jsonwebtoken::EncodingKey, user: i64, exp: u64) -> String {
    let claims = Claims {
        sub: user.to_string(),
        exp,
    };
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, key).expect("HS256 signing")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn lines(secret: &str, ttl: u64) {
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    let exp = now_secs() + ttl;
    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line.expect("reading stdin");
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let user: i64 = line
            .split(',')
            .next()
            .and_then(|u| u.trim().parse().ok())
            .unwrap_or_else(|| panic!("first field is not a user id: {line}"));
        writeln!(out, "{},{}", jwt(&key, user, exp), line).expect("writing stdout");
    }
}

/// Latencies (µs) and status counts of one step of the journey.
#[derive(Default)]
struct Step {
    micros: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
}

#[derive(Default)]
struct Stats {
    steps: BTreeMap<&'static str, Step>,
    journeys: u64,
    abandoned: u64,
}

struct Journey {
    http: reqwest::Client,
    base: String,
    key: jsonwebtoken::EncodingKey,
    concert: i64,
    next_user: AtomicI64,
    stats: Mutex<Stats>,
}

struct Answer {
    status: u16,
    body: serde_json::Value,
}

impl Journey {
    async fn call(
        &self,
        step: &'static str,
        req: reqwest::RequestBuilder,
        local: &mut Stats,
    ) -> Option<Answer> {
        let started = Instant::now();
        let res = req.send().await;
        let res = match res {
            Ok(r) => r,
            Err(_) => {
                local.steps.entry(step).or_default().transport_errors += 1;
                return None;
            }
        };
        let status = res.status().as_u16();
        let body = res.bytes().await.ok();
        let elapsed = started.elapsed();
        let entry = local.steps.entry(step).or_default();
        entry
            .micros
            .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
        *entry.statuses.entry(status).or_default() += 1;
        let body = body
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(serde_json::Value::Null);
        Some(Answer { status, body })
    }

    /// One journey of a new user; true when it ended with a payment.
    async fn run_one(&self, local: &mut Stats, deadline: Instant) -> bool {
        let user = self.next_user.fetch_add(1, Ordering::Relaxed);
        let auth = format!("Bearer {}", jwt(&self.key, user, now_secs() + 3600));
        let b = &self.base;
        let joined = self
            .call(
                "join",
                self.http
                    .post(format!("{b}/api/v1/concerts/{}/queue-tokens", self.concert))
                    .header("Authorization", &auth),
                local,
            )
            .await;
        let Some(joined) = joined.filter(|a| a.status == 201 || a.status == 200) else {
            return false;
        };
        let Some(token) = joined.body["token"].as_str().map(str::to_owned) else {
            return false;
        };
        let mut status = joined.body["status"].as_str().unwrap_or("").to_owned();
        // Poll every 100 ms until admitted (admission ticks every QUEUE_ADMIT_INTERVAL_MS).
        let wait_deadline = deadline + Duration::from_secs(5);
        while status != "ACTIVE" {
            if Instant::now() > wait_deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let polled = self
                .call(
                    "poll",
                    self.http
                        .get(format!("{b}/api/v1/queue-tokens/current"))
                        .header("Authorization", &auth)
                        .header("Queue-Token", &token),
                    local,
                )
                .await;
            let Some(polled) = polled.filter(|a| a.status == 200) else {
                return false;
            };
            status = polled.body["status"].as_str().unwrap_or("").to_owned();
        }
        let schedules = self
            .call(
                "schedules",
                self.http
                    .get(format!("{b}/api/v1/concerts/{}/schedules", self.concert))
                    .header("Authorization", &auth)
                    .header("Queue-Token", &token),
                local,
            )
            .await;
        let Some(schedules) = schedules.filter(|a| a.status == 200) else {
            return false;
        };
        let ids: Vec<i64> = schedules
            .body
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| s["availableSeats"].as_i64().unwrap_or(0) > 0)
                    .filter_map(|s| s["scheduleId"].as_i64())
                    .collect()
            })
            .unwrap_or_default();
        if ids.is_empty() {
            return false;
        }
        let schedule = ids[usize::try_from(user).unwrap_or(0) % ids.len()];
        let seats = self
            .call(
                "seats",
                self.http
                    .get(format!("{b}/api/v1/schedules/{schedule}/seats"))
                    .header("Authorization", &auth)
                    .header("Queue-Token", &token),
                local,
            )
            .await;
        let Some(seats) = seats.filter(|a| a.status == 200) else {
            return false;
        };
        let free: Vec<i64> = seats
            .body
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| s["available"].as_bool() == Some(true))
                    .filter_map(|s| s["seatId"].as_i64())
                    .collect()
            })
            .unwrap_or_default();
        if free.is_empty() {
            return false;
        }
        // Hold a free seat; another user may take it first (409): try up to three.
        let mut reservation = None;
        for attempt in 0..3usize {
            let seat = free[(usize::try_from(user).unwrap_or(0) * 7 + attempt * 13) % free.len()];
            let held = self
                .call(
                    "hold",
                    self.http
                        .post(format!("{b}/api/v1/reservations"))
                        .header("Authorization", &auth)
                        .header("Queue-Token", &token)
                        .json(&serde_json::json!({"scheduleId": schedule, "seatIds": [seat]})),
                    local,
                )
                .await;
            match held {
                Some(a) if a.status == 201 => {
                    reservation = Some(a.body);
                    break;
                }
                Some(a) if a.status == 409 => continue,
                _ => return false,
            }
        }
        let Some(reservation) = reservation else {
            return false;
        };
        let price = reservation["totalPrice"].as_i64().unwrap_or(0);
        let res_id = reservation["reservationId"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let charged = self
            .call(
                "charge",
                self.http
                    .post(format!("{b}/api/v1/wallet/charges"))
                    .header("Authorization", &auth)
                    .header("Idempotency-Key", format!("charge-{user}"))
                    .json(&serde_json::json!({ "amount": price.max(1) })),
                local,
            )
            .await;
        if charged.filter(|a| a.status == 201).is_none() {
            return false;
        }
        let paid = self
            .call(
                "pay",
                self.http
                    .post(format!("{b}/api/v1/payments"))
                    .header("Authorization", &auth)
                    .header("Queue-Token", &token)
                    .header("Idempotency-Key", format!("pay-{res_id}"))
                    .json(&serde_json::json!({ "reservationId": res_id })),
                local,
            )
            .await;
        paid.is_some_and(|a| a.status == 201)
    }
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

async fn journey(args: &[String]) {
    let base = args[0].trim_end_matches('/').to_owned();
    let secret = &args[1];
    let concert: i64 = args[2].parse().expect("CONCERT");
    let first_user: i64 = args[3].parse().expect("FIRST_USER");
    let concurrency: usize = args[4].parse().expect("CONCURRENCY");
    let secs: u64 = args[5].parse().expect("SECS");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("HTTP client");
    let journey = Arc::new(Journey {
        http,
        base,
        key: jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        concert,
        next_user: AtomicI64::new(first_user),
        stats: Mutex::new(Stats::default()),
    });
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let journey = Arc::clone(&journey);
        tasks.push(tokio::spawn(async move {
            let mut local = Stats::default();
            while Instant::now() < deadline {
                if journey.run_one(&mut local, deadline).await {
                    local.journeys += 1;
                } else {
                    local.abandoned += 1;
                }
            }
            let mut all = journey.stats.lock().expect("stats lock");
            all.journeys += local.journeys;
            all.abandoned += local.abandoned;
            for (name, step) in local.steps {
                let into = all.steps.entry(name).or_default();
                into.micros.extend(step.micros);
                into.transport_errors += step.transport_errors;
                for (s, n) in step.statuses {
                    *into.statuses.entry(s).or_default() += n;
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("journey task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut stats = journey.stats.lock().expect("stats lock");
    let mut all: Vec<u32> = Vec::new();
    let mut unexpected = 0u64;
    let mut conflicts = 0u64;
    let mut step_lines = Vec::new();
    for (name, step) in stats.steps.iter_mut() {
        step.micros.sort_unstable();
        all.extend(&step.micros);
        let mut codes = Vec::new();
        for (&s, &n) in &step.statuses {
            codes.push(format!("{s}x{n}"));
            if s == 409 && *name == "hold" {
                conflicts += n;
            } else if !(200..300).contains(&s) {
                unexpected += n;
            }
        }
        unexpected += step.transport_errors;
        step_lines.push(format!(
            "STEP {name} requests={} rps={:.1} p50={:.2} p95={:.2} p99={:.2} statuses={} transport_errors={}",
            step.micros.len(),
            step.micros.len() as f64 / elapsed,
            pct(&step.micros, 50.0),
            pct(&step.micros, 95.0),
            pct(&step.micros, 99.0),
            codes.join(","),
            step.transport_errors,
        ));
    }
    all.sort_unstable();
    println!(
        "RESULT seconds={elapsed:.3} journeys={} journeys_per_sec={:.1} abandoned={} requests={} \
         rps={:.1} p50={:.3} p95={:.3} p99={:.3} unexpected={unexpected} conflicts_409={conflicts}",
        stats.journeys,
        stats.journeys as f64 / elapsed,
        stats.abandoned,
        all.len(),
        all.len() as f64 / elapsed,
        pct(&all, 50.0),
        pct(&all, 95.0),
        pct(&all, 99.0),
    );
    for line in step_lines {
        println!("{line}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("lines") if args.len() == 3 => {
            lines(&args[1], args[2].parse().expect("TTL_SECS"));
        }
        Some("journey") if args.len() == 7 => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(journey(&args[1..]));
        }
        _ => {
            eprintln!(
                "usage: benchtool lines SECRET TTL_SECS < users.csv\n       \
                 benchtool journey BASE SECRET CONCERT FIRST_USER CONCURRENCY SECS"
            );
            std::process::exit(2);
        }
    }
}
