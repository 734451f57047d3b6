//! Chaos (issue 5): two instances of the service binary share one PostgreSQL cluster of the
//! test's own, while concurrent clients join queues, hold seats, charge wallets, pay, refund
//! and cancel, and the test SIGKILLs and restarts an instance, SIGSTOPs and SIGCONTs one, and
//! restarts PostgreSQL with `pg_ctl restart -m immediate` (same port).
//!
//! Every charge, payment and refund carries an `Idempotency-Key`. A request whose outcome is unknown (a
//! timeout, a connection error, a 5xx) is resolved afterwards by replaying its key. Then:
//!
//! * every acknowledged charge, payment and refund is in its user's ledger exactly once;
//! * nothing unacknowledged moved money: ledger entries ⊆ acknowledged ∪ resolved by replay;
//! * every balance equals the sum of its ledger;
//! * `adapters_postgres`'s invariant checker (the six invariants of the API contract, over one
//!   snapshot) found nothing, run every second during the chaos and once at the end.
//!
//! It prints the operations run, the faults injected, the violations found, and the 5xx seen
//! outside fault windows (a fault window lasts from the fault until the service is back, plus
//! [`GRACE`]).
//!
//! * `chaos_short` runs in the suite: ~15 s, 16 clients, one SIGKILL/restart of an instance,
//!   one SIGSTOP/SIGCONT and one PostgreSQL immediate restart.
//! * `chaos_long` is ignored by default; `scripts/chaos` runs it on the release binary with
//!   `CHAOS_SECONDS` (default 60) and `CHAOS_CLIENTS` (default 64), a fault every few seconds.
//!
//! The PostgreSQL cluster is always the test's own (initdb in a temporary directory with the
//! binaries in `PG_BIN`, exported by `scripts/lib/pg.sh`; as root, owned by `postgres` via
//! `runuser`), never a shared server. Without `PG_BIN` the test is skipped with a note, except
//! in CI where it fails.

use adapters_postgres::{connect_lazy, PgConfig, PgStore};
use domain::QueuePolicy;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The service binary under test (debug in the suite, release under `cargo test --release`).
const BIN: &str = env!("CARGO_BIN_EXE_concert-reservation");
/// The HS256 secret of both instances.
const JWT_SECRET: &str = "chaos-jwt-secret-of-at-least-32-bytes";
/// The operator key of both instances.
const ADMIN_KEY: &str = "chaos-admin-key";
/// Longest a client waits for one answer before calling the outcome unknown.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// How long after recovery a fault window stays open (pools reconnect, queues drain). A 5xx
/// counts as inside a window when its request was sent or answered inside one.
const GRACE: Duration = Duration::from_secs(3);
/// Seats per schedule (one schedule per concert).
const SEATS_PER_SCHEDULE: usize = 300;
/// Concerts the clients spread over.
const CONCERTS: usize = 2;
/// First user id of the clients.
const FIRST_USER: i64 = 1000;

// ------------------------------------------------------------------------------------ entries

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_short() {
    let Some(pg_bin) = pg_bin() else { return };
    let plan = Plan {
        run_for: Duration::from_secs(15),
        clients: 16,
        faults: vec![
            (Duration::from_secs(3), Fault::KillRestart(1)),
            (
                Duration::from_millis(6500),
                Fault::StopCont(0, Duration::from_secs(2)),
            ),
            (Duration::from_secs(10), Fault::PgRestart),
        ],
    };
    chaos(&pg_bin, plan).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the long chaos run: scripts/chaos (CHAOS_SECONDS, CHAOS_CLIENTS)"]
async fn chaos_long() {
    let Some(pg_bin) = pg_bin() else { return };
    let seconds = env_number("CHAOS_SECONDS", 60);
    let clients = env_number("CHAOS_CLIENTS", 64);
    let run_for = Duration::from_secs(seconds);
    // A fault every 6 s from 3 s on, rotating kill/restart, stop/cont and a PostgreSQL restart,
    // none in the last 5 s; the gaps between fault windows are where 5xx must not happen.
    let mut faults = Vec::new();
    let mut at = Duration::from_secs(3);
    let mut i = 0_usize;
    while at + Duration::from_secs(5) <= run_for {
        let fault = match i % 3 {
            0 => Fault::KillRestart((i / 3) % 2),
            1 => Fault::StopCont((i / 3 + 1) % 2, Duration::from_secs(2)),
            _ => Fault::PgRestart,
        };
        faults.push((at, fault));
        at += Duration::from_secs(6);
        i += 1;
    }
    let plan = Plan {
        run_for,
        clients: usize::try_from(clients).expect("CHAOS_CLIENTS fits"),
        faults,
    };
    chaos(&pg_bin, plan).await;
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map_or(default, |v| v.parse().expect("a number"))
}

/// `PG_BIN`, or `None` (skip) outside CI.
fn pg_bin() -> Option<PathBuf> {
    match std::env::var_os("PG_BIN") {
        Some(dir) if Path::new(&dir).join("initdb").exists() => Some(PathBuf::from(dir)),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "PG_BIN must name PostgreSQL's bin directory in CI (scripts/test exports it)"
            );
            eprintln!("PG_BIN unset: skipping the chaos test (run scripts/test or scripts/chaos)");
            None
        }
    }
}

// ------------------------------------------------------------------------ processes and faults

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs a PostgreSQL tool as the cluster's owner (`postgres` via `runuser` when root).
fn pg_tool(bin: &Path, tool: &str, args: &[&str]) -> Output {
    let exe = bin.join(tool);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(exe);
        c
    } else {
        Command::new(exe)
    };
    cmd.args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run a PostgreSQL tool")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A PostgreSQL cluster of this test only, removed on drop.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

/// Where the cluster directory goes: `CHAOS_STATE_DIR` (set by `scripts/chaos`, which cleans up
/// after an interrupted run from there), else the system's temporary directory.
fn state_root() -> PathBuf {
    std::env::var_os("CHAOS_STATE_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// Notes a child's pid in `CHAOS_STATE_DIR/pids` (when set) for `scripts/chaos` to clean up.
fn note_pid(pid: u32) {
    if let Some(dir) = std::env::var_os("CHAOS_STATE_DIR") {
        use std::io::Write as _;
        if let Ok(mut file) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(Path::new(&dir).join("pids"))
        {
            let _ = writeln!(file, "{pid}");
        }
    }
}

impl Cluster {
    fn start(bin: &Path) -> Self {
        let dir = state_root().join(format!("chaos-pg.{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).expect("create the cluster directory");
        let cluster = Self {
            bin: bin.to_owned(),
            dir,
            port: free_port(),
        };
        if is_root() {
            let chown = Command::new("chown")
                .arg("postgres")
                .arg(&cluster.dir)
                .status()
                .expect("chown");
            assert!(chown.success(), "chown the cluster directory to postgres");
        }
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&cluster.dir, std::fs::Permissions::from_mode(0o700))
                .expect("chmod 700");
        }
        let data = cluster.data();
        let out = pg_tool(
            bin,
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb: {out:?}");
        // fsync off is safe against process crashes (the OS keeps the writes); commits stay
        // synchronous so that an immediate restart never loses an acknowledged transaction.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off \
             -c max_connections=200 -c shared_buffers=32MB",
            cluster.port,
            cluster.dir.display()
        );
        let out = pg_tool(
            bin,
            "pg_ctl",
            &[
                "-D",
                &data,
                "-l",
                &cluster.log(),
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        );
        assert!(out.status.success(), "pg_ctl start: {out:?}");
        cluster
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn log(&self) -> String {
        self.dir.join("server.log").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl restart -m immediate` (same port and options); true when it came back.
    fn restart_immediate(&self) -> bool {
        let out = pg_tool(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &self.log(),
                "-m",
                "immediate",
                "-w",
                "-t",
                "60",
                "restart",
            ],
        );
        out.status.success()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = pg_tool(
            &self.bin,
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One instance of the binary; killed on drop.
struct Instance {
    port: u16,
    database_url: String,
    log: PathBuf,
    child: Option<Child>,
}

impl Instance {
    fn new(database_url: &str, log: PathBuf) -> Self {
        Self {
            port: free_port(),
            database_url: database_url.to_owned(),
            log,
            child: None,
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("instance log");
        cmd.env("DATABASE_URL", &self.database_url)
            .env("JWT_SECRET", JWT_SECRET)
            .env("ADMIN_API_KEY", ADMIN_KEY)
            .env("BIND_ADDR", format!("127.0.0.1:{}", self.port))
            .env("DATABASE_POOL_SIZE", "12")
            .env("HTTP_WORKERS", "2")
            .env("QUEUE_ADMIT_INTERVAL_MS", "200")
            .env("QUEUE_JOIN_RATE_LIMIT", "0")
            .env("HOLD_TTL_SECS", "10")
            .env("EXPIRY_SWEEP_INTERVAL_MS", "500")
            .env("REQUEST_TIMEOUT_SECS", "5")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        cmd
    }

    fn spawn(&mut self) {
        let child = self.command().spawn().expect("start an instance");
        note_pid(child.id());
        self.child = Some(child);
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn wait_ready(&self, http: &reqwest::Client) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(resp) = http
                .get(format!("{}/health/ready", self.base()))
                .timeout(Duration::from_secs(1))
                .send()
                .await
            {
                if resp.status() == StatusCode::OK {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.signal("-CONT");
        self.kill();
    }
}

/// A fault to inject.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// SIGKILL instance n, then start it again on the same port.
    KillRestart(usize),
    /// SIGSTOP instance n, SIGCONT it after the duration.
    StopCont(usize, Duration),
    /// `pg_ctl restart -m immediate`.
    PgRestart,
}

/// How long the chaos lasts, how many clients, and which faults when.
struct Plan {
    run_for: Duration,
    clients: usize,
    faults: Vec<(Duration, Fault)>,
}

/// A fault as it happened: what, when it started, when the service was back.
#[derive(Debug, Clone)]
struct Injected {
    what: String,
    started: Instant,
    recovered: Instant,
    ok: bool,
}

/// Runs the plan's faults on time; returns the instances (all running again) and the log.
async fn inject(
    mut instances: Vec<Instance>,
    cluster: Arc<Cluster>,
    plan: Vec<(Duration, Fault)>,
    start: Instant,
    http: reqwest::Client,
    injected: Arc<Mutex<Vec<Injected>>>,
) -> Vec<Instance> {
    for (at, fault) in plan {
        tokio::time::sleep_until((start + at).into()).await;
        let started = Instant::now();
        let (what, ok) = match fault {
            Fault::KillRestart(n) => {
                instances[n].kill();
                tokio::time::sleep(Duration::from_millis(500)).await;
                instances[n].spawn();
                let ok = instances[n].wait_ready(&http).await;
                (format!("SIGKILL + restart of instance {n}"), ok)
            }
            Fault::StopCont(n, pause) => {
                instances[n].signal("-STOP");
                tokio::time::sleep(pause).await;
                instances[n].signal("-CONT");
                (
                    format!("SIGSTOP instance {n} for {} ms, SIGCONT", pause.as_millis()),
                    true,
                )
            }
            Fault::PgRestart => {
                let cluster = Arc::clone(&cluster);
                let ok = tokio::task::spawn_blocking(move || cluster.restart_immediate())
                    .await
                    .unwrap_or(false);
                ("pg_ctl restart -m immediate".to_owned(), ok)
            }
        };
        injected.lock().expect("fault log").push(Injected {
            what,
            started,
            recovered: Instant::now(),
            ok,
        });
    }
    instances
}

// ------------------------------------------------------------------------------------ clients

/// xorshift64*: enough randomness for a workload, no dependency.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let seed = uuid::Uuid::new_v4().as_u128();
        Self((seed as u64) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }
}

/// A charge or a payment, and what became of it.
/// What a money operation was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MoneyKind {
    Charge,
    Payment,
    Refund,
}

impl MoneyKind {
    /// The receipt's id member.
    const fn id_field(self) -> &'static str {
        match self {
            Self::Charge => "transactionId",
            Self::Payment => "paymentId",
            Self::Refund => "refundId",
        }
    }

    /// The ledger kind it writes.
    const fn ledger_kind(self) -> &'static str {
        match self {
            Self::Charge => "CHARGE",
            Self::Payment => "PAYMENT",
            Self::Refund => "REFUND",
        }
    }
}

#[derive(Debug, Clone)]
struct MoneyOp {
    kind: MoneyKind,
    /// Where it was sent (replays go there too).
    path: String,
    user: i64,
    key: String,
    body: Value,
    queue_token: Option<String>,
    outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// 201: the transaction id (charge) or payment id (payment) and the amount.
    Acked {
        id: String,
        amount: i64,
        by_replay: bool,
    },
    /// A definite refusal.
    Rejected {
        status: u16,
        code: String,
        by_replay: bool,
    },
    /// Timeout, connection error or 5xx.
    Unknown(String),
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    ops: BTreeMap<&'static str, u64>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: Vec<Instant>,
    /// (sent, answered, status, operation, code) of every 5xx.
    server_errors: Vec<(Instant, Instant, u16, &'static str, String)>,
    money: Vec<MoneyOp>,
}

enum Reply {
    Answer(StatusCode, Value),
    Failed(String),
}

struct Client {
    http: reqwest::Client,
    bases: Arc<Vec<String>>,
    user: i64,
    jwt: String,
    rng: Rng,
    concert: i64,
    schedule: i64,
    seats: Arc<Vec<i64>>,
    token: Option<String>,
    active: bool,
    held: Vec<String>,
    /// Reservations this client paid for and has not refunded yet.
    paid: Vec<String>,
    tally: Tally,
}

fn user_jwt(user: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": user.to_string(), "exp": now + 3600, "iat": now}),
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("a JWT")
}

/// Sends one request to `base`; a 5xx or a transport failure is `Failed`/5xx for the caller.
#[allow(clippy::too_many_arguments)] // one flat call site per request shape reads best here
async fn send(
    http: &reqwest::Client,
    base: &str,
    jwt: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
    key: Option<&str>,
) -> Reply {
    let mut req = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(jwt)
        .timeout(REQUEST_TIMEOUT);
    if let Some(token) = token {
        req = req.header("Queue-Token", token);
    }
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            match resp.bytes().await {
                Ok(bytes) => Reply::Answer(
                    status,
                    serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                ),
                Err(e) => Reply::Failed(format!("body: {e}")),
            }
        }
        Err(e) => Reply::Failed(e.to_string()),
    }
}

impl Client {
    async fn call(
        &mut self,
        op: &'static str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Reply {
        let base = self.bases[self.rng.below(self.bases.len())].clone();
        *self.tally.ops.entry(op).or_default() += 1;
        let sent = Instant::now();
        let reply = send(
            &self.http,
            &base,
            &self.jwt,
            method,
            path,
            body,
            self.token.as_deref(),
            key,
        )
        .await;
        match &reply {
            Reply::Answer(status, body) => {
                *self.tally.statuses.entry(status.as_u16()).or_default() += 1;
                if status.is_server_error() {
                    self.tally.server_errors.push((
                        sent,
                        Instant::now(),
                        status.as_u16(),
                        op,
                        body["code"].as_str().unwrap_or_default().to_owned(),
                    ));
                }
                if matches!(
                    body["code"].as_str(),
                    Some("QUEUE_TOKEN_NOT_ACTIVE" | "QUEUE_TOKEN_REQUIRED")
                ) {
                    self.active = false;
                }
            }
            Reply::Failed(_) => self.tally.transport_errors.push(Instant::now()),
        }
        reply
    }

    async fn run(mut self, deadline: Instant) -> Tally {
        while Instant::now() < deadline {
            if !self.active {
                self.enter().await;
                continue;
            }
            match self.rng.below(100) {
                0..=22 => self.charge().await,
                23..=50 => self.hold().await,
                51..=74 => self.pay().await,
                75..=81 => self.refund().await,
                82..=89 => self.cancel().await,
                _ => self.read().await,
            }
        }
        self.tally
    }

    /// Joins (when without a live token) and polls once; sets `active` when admitted.
    async fn enter(&mut self) {
        if self.token.is_none() {
            let path = format!("/api/v1/concerts/{}/queue-tokens", self.concert);
            if let Reply::Answer(status, body) =
                self.call("join", Method::POST, &path, None, None).await
            {
                if status.is_success() {
                    self.token = body["token"].as_str().map(str::to_owned);
                }
            }
        }
        if self.token.is_some() {
            if let Reply::Answer(status, body) = self
                .call(
                    "poll",
                    Method::GET,
                    "/api/v1/queue-tokens/current",
                    None,
                    None,
                )
                .await
            {
                match (status, body["status"].as_str()) {
                    (StatusCode::OK, Some("ACTIVE")) => {
                        self.active = true;
                        return;
                    }
                    (StatusCode::OK, Some("WAITING")) => {}
                    (s, _) if s.is_client_error() => self.token = None,
                    (StatusCode::OK, _) => self.token = None,
                    _ => {}
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    async fn charge(&mut self) {
        let amount = 1000 + i64::try_from(self.rng.below(30_000)).unwrap_or(0);
        let body = json!({"amount": amount});
        let key = uuid::Uuid::new_v4().to_string();
        let reply = self
            .call(
                "charge",
                Method::POST,
                "/api/v1/wallet/charges",
                Some(&body),
                Some(&key),
            )
            .await;
        let outcome = classify(&reply, "transactionId", "amount", false);
        self.tally.money.push(MoneyOp {
            kind: MoneyKind::Charge,
            path: "/api/v1/wallet/charges".to_owned(),
            user: self.user,
            key,
            body,
            queue_token: None,
            outcome,
        });
    }

    async fn hold(&mut self) {
        if self.held.len() >= 2 {
            return self.cancel().await;
        }
        let count = 1 + self.rng.below(2);
        let mut seats: Vec<i64> = (0..count)
            .map(|_| self.seats[self.rng.below(self.seats.len())])
            .collect();
        seats.dedup();
        let body = json!({"scheduleId": self.schedule, "seatIds": seats});
        if let Reply::Answer(StatusCode::CREATED, body) = self
            .call(
                "hold",
                Method::POST,
                "/api/v1/reservations",
                Some(&body),
                None,
            )
            .await
        {
            if let Some(id) = body["reservationId"].as_str() {
                self.held.push(id.to_owned());
            }
        }
    }

    async fn pay(&mut self) {
        if self.held.is_empty() {
            return self.hold().await;
        }
        let i = self.rng.below(self.held.len());
        let reservation = self.held[i].clone();
        let body = json!({"reservationId": reservation});
        let key = uuid::Uuid::new_v4().to_string();
        let token = self.token.clone();
        let reply = self
            .call(
                "pay",
                Method::POST,
                "/api/v1/payments",
                Some(&body),
                Some(&key),
            )
            .await;
        let outcome = classify(&reply, "paymentId", "amount", false);
        match &outcome {
            Outcome::Acked { .. } => {
                self.held.remove(i);
                self.paid.push(reservation);
                // Paying expires the queue token.
                self.token = None;
                self.active = false;
            }
            Outcome::Rejected { code, .. }
                if code == "RESERVATION_NOT_PAYABLE" || code == "NOT_FOUND" =>
            {
                self.held.remove(i);
            }
            Outcome::Rejected { code, .. } if code == "INSUFFICIENT_BALANCE" => {}
            Outcome::Rejected { .. } => {}
            Outcome::Unknown(_) => {
                // It may have been paid (and the token expired): find out by asking again later.
                self.active = false;
            }
        }
        self.tally.money.push(MoneyOp {
            kind: MoneyKind::Payment,
            path: "/api/v1/payments".to_owned(),
            user: self.user,
            key,
            body,
            queue_token: token,
            outcome,
        });
    }

    /// Refunds one of the client's paid reservations (no queue token needed).
    async fn refund(&mut self) {
        if self.paid.is_empty() {
            return self.read().await;
        }
        let i = self.rng.below(self.paid.len());
        let reservation = self.paid[i].clone();
        let path = format!("/api/v1/reservations/{reservation}/refund");
        let body = json!({});
        let key = uuid::Uuid::new_v4().to_string();
        let reply = self
            .call("refund", Method::POST, &path, Some(&body), Some(&key))
            .await;
        let outcome = classify(&reply, "refundId", "amount", false);
        match &outcome {
            Outcome::Acked { .. } | Outcome::Rejected { .. } => {
                self.paid.remove(i);
            }
            Outcome::Unknown(_) => {}
        }
        self.tally.money.push(MoneyOp {
            kind: MoneyKind::Refund,
            path,
            user: self.user,
            key,
            body,
            queue_token: None,
            outcome,
        });
    }

    async fn cancel(&mut self) {
        if self.held.is_empty() {
            return self.read().await;
        }
        let i = self.rng.below(self.held.len());
        let reservation = self.held.remove(i);
        let path = format!("/api/v1/reservations/{reservation}");
        let _ = self.call("cancel", Method::DELETE, &path, None, None).await;
    }

    async fn read(&mut self) {
        let path = if self.rng.below(2) == 0 {
            "/api/v1/wallet"
        } else {
            "/api/v1/reservations?limit=5"
        };
        let _ = self.call("read", Method::GET, path, None, None).await;
    }
}

/// The outcome of a charge (`id_field` = `transactionId`) or payment (`paymentId`) answer.
fn classify(reply: &Reply, id_field: &str, amount_field: &str, by_replay: bool) -> Outcome {
    match reply {
        Reply::Answer(StatusCode::CREATED, body) => {
            match (body[id_field].as_str(), body[amount_field].as_i64()) {
                (Some(id), Some(amount)) => Outcome::Acked {
                    id: id.to_owned(),
                    amount,
                    by_replay,
                },
                _ => Outcome::Unknown(format!("201 without {id_field}: {body}")),
            }
        }
        Reply::Answer(status, body) if status.is_server_error() => {
            Outcome::Unknown(format!("{status} {}", body["code"]))
        }
        Reply::Answer(status, body)
            if *status == StatusCode::CONFLICT && body["code"] == "IDEMPOTENCY_KEY_IN_USE" =>
        {
            Outcome::Unknown("IDEMPOTENCY_KEY_IN_USE".to_owned())
        }
        Reply::Answer(status, body) => Outcome::Rejected {
            status: status.as_u16(),
            code: body["code"].as_str().unwrap_or_default().to_owned(),
            by_replay,
        },
        Reply::Failed(e) => Outcome::Unknown(e.clone()),
    }
}

/// Replays every unknown charge and payment under its key until the answer is definite (or
/// `budget` runs out). Returns how many were resolved.
async fn resolve(http: &reqwest::Client, bases: &[String], ops: &mut [MoneyOp], budget: Duration) {
    let deadline = Instant::now() + budget;
    for (n, op) in ops
        .iter_mut()
        .filter(|op| matches!(op.outcome, Outcome::Unknown(_)))
        .enumerate()
    {
        let (path, id_field) = (op.path.clone(), op.kind.id_field());
        let jwt = user_jwt(op.user);
        let mut attempt = n;
        while Instant::now() < deadline {
            let reply = send(
                http,
                &bases[attempt % bases.len()],
                &jwt,
                Method::POST,
                &path,
                Some(&op.body),
                op.queue_token.as_deref(),
                Some(&op.key),
            )
            .await;
            let outcome = classify(&reply, id_field, "amount", true);
            if !matches!(outcome, Outcome::Unknown(_)) {
                op.outcome = outcome;
                break;
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

// ------------------------------------------------------------------------------- the checks

/// One ledger line as the API lists it.
#[derive(Debug, Clone)]
struct Line {
    id: String,
    kind: String,
    amount: i64,
    reference: Option<String>,
}

/// A user's whole ledger (every page) and balance, read through the API.
async fn ledger_of(http: &reqwest::Client, base: &str, user: i64) -> (Vec<Line>, i64) {
    let jwt = user_jwt(user);
    let mut lines = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/wallet/transactions?limit=100&cursor={c}"),
            None => "/api/v1/wallet/transactions?limit=100".to_owned(),
        };
        let Reply::Answer(StatusCode::OK, page) =
            send(http, base, &jwt, Method::GET, &path, None, None, None).await
        else {
            panic!("the ledger of user {user} cannot be read");
        };
        for item in page["items"].as_array().expect("items") {
            lines.push(Line {
                id: item["id"].as_str().unwrap_or_default().to_owned(),
                kind: item["kind"].as_str().unwrap_or_default().to_owned(),
                amount: item["amount"].as_i64().unwrap_or_default(),
                reference: item["reference"].as_str().map(str::to_owned),
            });
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let Reply::Answer(StatusCode::OK, wallet) = send(
        http,
        base,
        &jwt,
        Method::GET,
        "/api/v1/wallet",
        None,
        None,
        None,
    )
    .await
    else {
        panic!("the wallet of user {user} cannot be read");
    };
    (lines, wallet["balance"].as_i64().expect("balance"))
}

/// Compares one user's ledger with the charges and payments it made; returns the findings.
fn audit(user: i64, lines: &[Line], balance: i64, ops: &[&MoneyOp]) -> Vec<String> {
    let mut findings = Vec::new();
    let sum: i64 = lines.iter().map(|l| l.amount).sum();
    if sum != balance {
        findings.push(format!(
            "user {user}: balance {balance} but ledger sum {sum}"
        ));
    }
    // Lines by reference: a charge's is its key, a payment's its payment id.
    let mut by_ref: HashMap<(&str, &str), Vec<&Line>> = HashMap::new();
    for line in lines {
        by_ref
            .entry((line.kind.as_str(), line.reference.as_deref().unwrap_or("")))
            .or_default()
            .push(line);
    }
    let mut allowed: BTreeSet<(&str, &str)> = BTreeSet::new();
    for op in ops {
        let Outcome::Acked { id, amount, .. } = &op.outcome else {
            continue;
        };
        // A charge's line is referenced by its key, a payment's and a refund's by their id.
        let kind = op.kind.ledger_kind();
        let (reference, signed) = match op.kind {
            MoneyKind::Payment => (id.as_str(), -amount),
            MoneyKind::Refund => (id.as_str(), *amount),
            MoneyKind::Charge => (op.key.as_str(), *amount),
        };
        allowed.insert((kind, reference));
        let found = by_ref
            .get(&(kind, reference))
            .map_or(&[][..], Vec::as_slice);
        let exact = found.len() == 1
            && found[0].amount == signed
            && (op.kind != MoneyKind::Charge || found[0].id == *id);
        if !exact {
            findings.push(format!(
                "user {user}: acknowledged {kind} {reference} ({signed}) is in the ledger {} \
                 times: {found:?}",
                found.len()
            ));
        }
    }
    for line in lines {
        let key = (line.kind.as_str(), line.reference.as_deref().unwrap_or(""));
        if !allowed.contains(&key) {
            findings.push(format!(
                "user {user}: ledger line {line:?} was never acknowledged nor resolved by replay"
            ));
        }
    }
    findings
}

/// What the invariant watcher saw.
#[derive(Default)]
struct Watch {
    runs: u64,
    unavailable: u64,
    violations: BTreeSet<String>,
}

async fn watch_invariants(
    store: PgStore,
    policy: QueuePolicy,
    stop: Arc<AtomicBool>,
    watch: Arc<Mutex<Watch>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let result = store.check_invariants(policy).await;
        {
            let mut w = watch.lock().expect("watch");
            match result {
                Ok(report) => {
                    w.runs += 1;
                    w.violations
                        .extend(report.violations.iter().map(ToString::to_string));
                }
                Err(_) => w.unavailable += 1,
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

// ---------------------------------------------------------------------------------- the run

async fn admin(http: &reqwest::Client, base: &str, path: &str, body: &Value) -> Value {
    let resp = http
        .post(format!("{base}{path}"))
        .bearer_auth(ADMIN_KEY)
        .json(body)
        .send()
        .await
        .expect("admin request");
    assert_eq!(resp.status(), StatusCode::CREATED, "admin {path}");
    resp.json().await.expect("admin answer")
}

#[allow(clippy::too_many_lines)]
async fn chaos(pg_bin: &Path, plan: Plan) {
    // Arrange: a cluster of our own, the schema, two instances, the catalogue.
    let cluster = Arc::new(Cluster::start(pg_bin));
    let url = cluster.url();
    let migrate = Command::new(BIN)
        .arg("migrate")
        .env("DATABASE_URL", &url)
        .env("JWT_SECRET", JWT_SECRET)
        .env("ADMIN_API_KEY", ADMIN_KEY)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run migrate");
    assert!(migrate.status.success(), "migrate: {migrate:?}");
    let logs = cluster.dir.clone();
    let mut instances: Vec<Instance> = (0..2)
        .map(|n| Instance::new(&url, logs.join(format!("instance-{n}.log"))))
        .collect();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(1))
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    for instance in &mut instances {
        instance.spawn();
    }
    for instance in &instances {
        assert!(instance.wait_ready(&http).await, "instance ready");
    }
    let bases: Arc<Vec<String>> = Arc::new(instances.iter().map(Instance::base).collect());
    let mut shows = Vec::new();
    for c in 0..CONCERTS {
        let concert = admin(
            &http,
            &bases[0],
            "/api/v1/admin/concerts",
            &json!({"title": format!("Chaos {c}"), "venue": "Hall"}),
        )
        .await;
        let concert_id = concert["id"].as_i64().expect("concert id");
        let seats: Vec<Value> = (0..SEATS_PER_SCHEDULE)
            .map(|i| json!({"number": format!("S-{i}"), "grade": "R", "price": 1000 * (1 + i % 5)}))
            .collect();
        let starts_at = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
        let schedule = admin(
            &http,
            &bases[1],
            &format!("/api/v1/admin/concerts/{concert_id}/schedules"),
            &json!({"startsAt": starts_at, "seats": seats}),
        )
        .await;
        let seat_ids: Vec<i64> = schedule["seats"]
            .as_array()
            .expect("seats")
            .iter()
            .map(|s| s["seatId"].as_i64().expect("seat id"))
            .collect();
        shows.push((
            concert_id,
            schedule["scheduleId"].as_i64().expect("schedule id"),
            Arc::new(seat_ids),
        ));
    }
    let mut checker_config = PgConfig::new(url.clone()).with_pool_size(2);
    checker_config.connect_timeout = Duration::from_secs(2);
    checker_config.wait_timeout = Duration::from_secs(2);
    checker_config.operation_timeout = Duration::from_secs(10);
    let checker = connect_lazy(checker_config).expect("checker pool");
    let policy = QueuePolicy::new(
        100,
        1000,
        Duration::from_millis(200),
        Duration::from_secs(600),
        Duration::from_secs(300),
    )
    .expect("policy");

    // Act: the clients, the faults and the invariant watcher, all at once.
    let start = Instant::now();
    let deadline = start + plan.run_for;
    let injected = Arc::new(Mutex::new(Vec::new()));
    let stop_watch = Arc::new(AtomicBool::new(false));
    let watch = Arc::new(Mutex::new(Watch::default()));
    let watcher = tokio::spawn(watch_invariants(
        checker.clone(),
        policy,
        Arc::clone(&stop_watch),
        Arc::clone(&watch),
    ));
    let injector = tokio::spawn(inject(
        instances,
        Arc::clone(&cluster),
        plan.faults.clone(),
        start,
        http.clone(),
        Arc::clone(&injected),
    ));
    let clients: Vec<_> = (0..plan.clients)
        .map(|i| {
            let (concert, schedule, seats) = shows[i % shows.len()].clone();
            let user = FIRST_USER + i64::try_from(i).expect("client index");
            let client = Client {
                http: http.clone(),
                bases: Arc::clone(&bases),
                user,
                jwt: user_jwt(user),
                rng: Rng::new(),
                concert,
                schedule,
                seats,
                token: None,
                active: false,
                held: Vec::new(),
                paid: Vec::new(),
                tally: Tally::default(),
            };
            tokio::spawn(client.run(deadline))
        })
        .collect();
    let mut tallies = Vec::new();
    for client in clients {
        tallies.push(client.await.expect("client task"));
    }
    let instances = injector.await.expect("fault injector");
    let ran_for = start.elapsed();

    // Every instance up again, then resolve what is unknown by replaying its key.
    for instance in &instances {
        instance.signal("-CONT");
        assert!(
            instance.wait_ready(&http).await,
            "instance back after the chaos"
        );
    }
    let mut money: Vec<MoneyOp> = tallies
        .iter_mut()
        .flat_map(|t| std::mem::take(&mut t.money))
        .collect();
    let unknown_before = money
        .iter()
        .filter(|op| matches!(op.outcome, Outcome::Unknown(_)))
        .count();
    resolve(&http, &bases, &mut money, Duration::from_secs(60)).await;
    let unresolved: Vec<&MoneyOp> = money
        .iter()
        .filter(|op| matches!(op.outcome, Outcome::Unknown(_)))
        .collect();

    // The ledgers against what was acknowledged.
    let mut findings = Vec::new();
    for i in 0..plan.clients {
        let user = FIRST_USER + i64::try_from(i).expect("client index");
        let (lines, balance) = ledger_of(&http, &bases[i % 2], user).await;
        let ops: Vec<&MoneyOp> = money.iter().filter(|op| op.user == user).collect();
        findings.extend(audit(user, &lines, balance, &ops));
    }
    stop_watch.store(true, Ordering::Relaxed);
    let _ = watcher.await;
    let last = checker.check_invariants(policy).await.expect("final check");

    // Report.
    let faults = injected.lock().expect("faults").clone();
    let in_window = |t: Instant| {
        faults
            .iter()
            .any(|f| t >= f.started && t <= f.recovered + GRACE)
    };
    let mut ops: BTreeMap<&str, u64> = BTreeMap::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut server_errors = Vec::new();
    let mut transport_errors = Vec::new();
    for t in &tallies {
        for (k, v) in &t.ops {
            *ops.entry(k).or_default() += v;
        }
        for (k, v) in &t.statuses {
            *statuses.entry(*k).or_default() += v;
        }
        server_errors.extend(t.server_errors.iter().cloned());
        transport_errors.extend(t.transport_errors.iter().copied());
    }
    let outside: Vec<_> = server_errors
        .iter()
        .filter(|(sent, answered, ..)| !in_window(*sent) && !in_window(*answered))
        .map(|(sent, answered, status, op, code)| {
            format!(
                "{status} {code} on {op} sent at {:.1}s, answered at {:.1}s",
                (*sent - start).as_secs_f64(),
                (*answered - start).as_secs_f64()
            )
        })
        .collect();
    let internal = server_errors
        .iter()
        .filter(|(_, _, status, ..)| *status == 500)
        .count();
    let transport_outside = transport_errors.iter().filter(|t| !in_window(**t)).count();
    let count = |kind: MoneyKind, pred: &dyn Fn(&Outcome) -> bool| {
        money
            .iter()
            .filter(|op| op.kind == kind && pred(&op.outcome))
            .count()
    };
    let acked = |o: &Outcome| {
        matches!(
            o,
            Outcome::Acked {
                by_replay: false,
                ..
            }
        )
    };
    let acked_replay = |o: &Outcome| {
        matches!(
            o,
            Outcome::Acked {
                by_replay: true,
                ..
            }
        )
    };
    let rejected_replay = |o: &Outcome| {
        matches!(
            o,
            Outcome::Rejected {
                by_replay: true,
                ..
            }
        )
    };
    let watch = watch.lock().expect("watch");
    let total_ops: u64 = ops.values().sum();
    eprintln!("==================== chaos report ====================");
    eprintln!(
        "binary {BIN}\nran {:.1} s with {} clients on 2 instances + 1 PostgreSQL",
        ran_for.as_secs_f64(),
        plan.clients
    );
    eprintln!("operations run: {total_ops} {ops:?}");
    eprintln!(
        "answers by status: {statuses:?}; transport errors {}",
        transport_errors.len()
    );
    eprintln!(
        "charges: {} acknowledged, {} resolved by replay as done, {} as not done; payments: {} \
         acknowledged, {} resolved by replay as done, {} as not done; refunds: {} acknowledged, \
         {} resolved by replay as done, {} as not done",
        count(MoneyKind::Charge, &acked),
        count(MoneyKind::Charge, &acked_replay),
        count(MoneyKind::Charge, &rejected_replay),
        count(MoneyKind::Payment, &acked),
        count(MoneyKind::Payment, &acked_replay),
        count(MoneyKind::Payment, &rejected_replay),
        count(MoneyKind::Refund, &acked),
        count(MoneyKind::Refund, &acked_replay),
        count(MoneyKind::Refund, &rejected_replay),
    );
    eprintln!(
        "unknown outcomes: {unknown_before}, unresolved after replay: {}",
        unresolved.len()
    );
    eprintln!("faults injected: {}", faults.len());
    for f in &faults {
        eprintln!(
            "  at {:>5.1}s {} (back after {:.1}s){}",
            (f.started - start).as_secs_f64(),
            f.what,
            (f.recovered - f.started).as_secs_f64(),
            if f.ok { "" } else { " FAILED" }
        );
    }
    eprintln!(
        "invariant checks: {} during the run ({} while the database was unreachable) + 1 final",
        watch.runs, watch.unavailable
    );
    eprintln!(
        "violations found: {} during, {} at the end",
        watch.violations.len(),
        last.violations.len()
    );
    for v in watch.violations.iter().take(20) {
        eprintln!("  {v}");
    }
    for v in &last.violations {
        eprintln!("  final: {v}");
    }
    eprintln!("ledger findings: {}", findings.len());
    for f in findings.iter().take(20) {
        eprintln!("  {f}");
    }
    eprintln!(
        "5xx: {} in all, {} outside fault windows; 500 INTERNAL anywhere: {internal}; transport \
         errors outside fault windows: {transport_outside}",
        server_errors.len(),
        outside.len(),
    );
    for o in outside.iter().take(20) {
        eprintln!("  {o}");
    }
    eprintln!("instance logs and the cluster are removed; set CHAOS_KEEP=1 to keep them");
    eprintln!("======================================================");
    if std::env::var_os("CHAOS_KEEP").is_some() {
        let kept =
            std::env::temp_dir().join(format!("chaos-logs.{}", uuid::Uuid::new_v4().simple()));
        let _ = std::fs::create_dir(&kept);
        for n in 0..2 {
            let name = format!("instance-{n}.log");
            let _ = std::fs::copy(logs.join(&name), kept.join(&name));
        }
        let _ = std::fs::copy(logs.join("server.log"), kept.join("postgres.log"));
        eprintln!("logs kept in {}", kept.display());
    }

    // Assert
    assert!(
        faults.iter().all(|f| f.ok),
        "every fault was recovered from"
    );
    assert_eq!(faults.len(), plan.faults.len());
    assert!(
        count(MoneyKind::Charge, &acked) > 0 && count(MoneyKind::Payment, &acked) > 0,
        "the workload charged and paid"
    );
    assert!(unresolved.is_empty(), "unresolved: {unresolved:?}");
    assert!(findings.is_empty(), "ledger findings: {findings:?}");
    assert!(watch.violations.is_empty(), "{:?}", watch.violations);
    assert!(last.is_clean(), "{:?}", last.violations);
    assert!(watch.runs > 0, "the invariant checker ran");
    assert!(outside.is_empty(), "5xx outside fault windows: {outside:?}");
    assert_eq!(internal, 0, "a fault is 503, never 500 INTERNAL");
    drop(instances);
}
