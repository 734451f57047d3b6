//! The database goes away and comes back: the service answers 503 `SERVICE_UNAVAILABLE` with
//! `Retry-After` quickly (no request hangs, nothing panics), stays live, and heals by itself
//! once PostgreSQL is back.
//!
//! The test starts its own small PostgreSQL cluster (it stops and restarts it, so it cannot use
//! a shared server) with the binaries in `PG_BIN` (`scripts/lib/pg.sh` exports it); it is
//! skipped with a note when `PG_BIN` is unset, except in CI. The cluster lives in a temporary
//! directory, listens on 127.0.0.1 on a free port, and is removed at the end, even on panic.

mod support;

use app::{spawn_app, Config, Secret};
use reqwest::StatusCode;
use serde_json::json;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{send, Answer};

/// Longest a single answer may take while the database is down.
const ANSWER_BOUND: Duration = Duration::from_secs(10);
/// Longest the service may take to heal once the database is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);

/// A private PostgreSQL cluster; stopped and deleted on drop.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    running: bool,
    frozen: bool,
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs a PostgreSQL program as the cluster's owner (the `postgres` user when we are root,
/// since the server refuses to run as root), like `scripts/lib/pg.sh`.
fn as_owner(program: &Path, args: &[&str]) -> Output {
    let mut command = if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    command
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Cluster {
    /// initdb in a fresh temporary directory, then start on a free port.
    fn create(bin: PathBuf) -> Self {
        let dir = std::env::temp_dir().join(format!("pg-outage.{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).expect("create the cluster directory");
        // From here on, Drop removes the directory whatever happens.
        let mut cluster = Self {
            bin,
            dir,
            port: 0,
            running: false,
            frozen: false,
        };
        if running_as_root() {
            let chown = Command::new("chown")
                .arg("postgres")
                .arg(&cluster.dir)
                .status()
                .expect("run chown");
            assert!(
                chown.success(),
                "chown postgres failed (does the user exist?)"
            );
        }
        let data = cluster.data();
        let out = as_owner(
            &cluster.bin.join("initdb"),
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
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for attempt in 1..=5 {
            cluster.port = free_port();
            if cluster.try_start() {
                return cluster;
            }
            eprintln!(
                "PostgreSQL start attempt {attempt} on {} failed",
                cluster.port
            );
        }
        panic!("PostgreSQL did not start:\n{}", cluster.server_log());
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server. `fsync=off` only risks data on an operating-system crash; commits
    /// stay synchronous (`synchronous_commit=off` would lose the last commits on the immediate
    /// stop below).
    fn try_start(&mut self) -> bool {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50 \
             -c shared_buffers=16MB",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").display().to_string();
        let out = as_owner(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-w",
                "-t",
                "30",
                "-o",
                &options,
                "start",
            ],
        );
        self.running = out.status.success();
        self.running
    }

    /// Starts the stopped cluster again, on the same port and data directory.
    fn restart(&mut self) {
        assert!(
            self.try_start(),
            "PostgreSQL did not restart:\n{}",
            self.server_log()
        );
    }

    /// Sends `signal` (`STOP` or `CONT`) to this cluster's postmaster and its children only
    /// (found by parent pid): a stopped server accepts TCP connections into the backlog but
    /// answers nothing, as a hung database or a black-holed network looks to clients.
    fn signal(&mut self, signal: &str) {
        if let Err(e) = self.try_signal(signal) {
            panic!("{e}");
        }
        self.frozen = signal == "STOP";
    }

    /// [`Cluster::signal`] without panicking (also used on drop).
    fn try_signal(&self, signal: &str) -> Result<(), String> {
        let pid_file = std::fs::read_to_string(self.dir.join("data").join("postmaster.pid"))
            .map_err(|e| format!("cannot read postmaster.pid: {e}"))?;
        let postmaster = pid_file
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let mut children = Vec::new();
        let proc = std::fs::read_dir("/proc").map_err(|e| format!("cannot list /proc: {e}"))?;
        for entry in proc.flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: the comm may hold spaces, so split after the ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1));
            if ppid == Some(postmaster.as_str()) {
                children.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        // Freeze the parent first (no new backends), thaw it last.
        let mut pids = vec![postmaster];
        if signal == "CONT" {
            pids.splice(0..0, children);
        } else {
            pids.extend(children);
        }
        let status = Command::new("kill")
            .arg("-s")
            .arg(signal)
            .args(&pids)
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -s {signal} {pids:?} failed"))
        }
    }

    /// Stops the server at once, as a crash or a network cut would look to clients.
    fn stop_immediate(&mut self) {
        let out = as_owner(
            &self.bin.join("pg_ctl"),
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.running = false;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.frozen {
            let _ = self.try_signal("CONT");
        }
        if self.running {
            let _ = as_owner(
                &self.bin.join("pg_ctl"),
                &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
            );
        }
        if std::thread::panicking() {
            eprintln!(
                "----- PostgreSQL log -----\n{}\n----- end -----",
                self.server_log()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Asserts a bounded 503 `SERVICE_UNAVAILABLE` with `Retry-After`.
fn assert_unavailable(what: &str, a: &Answer) {
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {a:?}");
    assert_eq!(a.body["code"], "SERVICE_UNAVAILABLE", "{what}: {a:?}");
    assert!(
        a.retry_after
            .as_deref()
            .is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1)),
        "{what}: Retry-After missing: {a:?}"
    );
    assert!(a.took < ANSWER_BOUND, "{what} took {:?}", a.took);
}

/// What the service answered during one outage.
struct Phase {
    ready: Answer,
    wallet: Answer,
    charge: Answer,
    wallet_again: Answer,
    live: Answer,
}

impl Phase {
    /// Readiness, a wallet read, a charge, the wallet read again, then liveness, in turn.
    async fn observe<R, W, C, L, F>(
        label: &str,
        ready: &R,
        wallet: &W,
        charge: &C,
        live: &L,
    ) -> Self
    where
        R: Fn() -> F,
        W: Fn() -> F,
        C: Fn(&'static str, i64) -> F,
        L: Fn() -> F,
        F: std::future::Future<Output = Answer>,
    {
        let phase = Self {
            ready: ready().await,
            wallet: wallet().await,
            charge: charge("during", 5_000).await,
            wallet_again: wallet().await,
            live: live().await,
        };
        eprintln!(
            "{label}: ready {} in {:?}; GET wallet {} in {:?}, again in {:?}; POST charge {} in \
             {:?}; live {} in {:?}",
            phase.ready.status.as_u16(),
            phase.ready.took,
            phase.wallet.status.as_u16(),
            phase.wallet.took,
            phase.wallet_again.took,
            phase.charge.status.as_u16(),
            phase.charge.took,
            phase.live.status.as_u16(),
            phase.live.took
        );
        phase
    }

    fn assert_unavailable(&self) {
        assert_unavailable("readiness", &self.ready);
        assert_unavailable("GET /api/v1/wallet", &self.wallet);
        assert_unavailable("POST /api/v1/wallet/charges", &self.charge);
        assert_unavailable("GET /api/v1/wallet again", &self.wallet_again);
        assert_eq!(
            self.live.status,
            StatusCode::OK,
            "liveness: {:?}",
            self.live
        );
        assert!(self.live.took < Duration::from_secs(1), "{:?}", self.live);
    }
}

/// Polls readiness until 200; panics after [`RECOVERY_BOUND`]. Returns how long it took.
async fn wait_ready<R, F>(ready: &R) -> Duration
where
    R: Fn() -> F,
    F: std::future::Future<Output = Answer>,
{
    let started = Instant::now();
    loop {
        let answer = ready().await;
        if answer.status == StatusCode::OK {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < RECOVERY_BOUND,
            "not ready {RECOVERY_BOUND:?} after the database came back: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_answers_503_while_the_database_is_down_and_heals_by_itself() {
    let Some(bin) = std::env::var_os("PG_BIN") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PG_BIN must be set in CI (scripts/lib/pg.sh exports it)"
        );
        eprintln!("PG_BIN unset: skipping the database outage test (run scripts/test)");
        return;
    };
    // Counts panics anywhere in the process (request handlers, background jobs).
    let previous = Arc::new(std::panic::take_hook());
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));

    // Arrange: our own cluster, the service on it, a user with money.
    let mut cluster = Cluster::create(PathBuf::from(bin));
    let app = spawn_app(Config {
        database_url: Some(Secret::new(cluster.url())),
        jwt_secret: Some(Secret::new("outage-jwt-secret-of-at-least-32-bytes")),
        admin_api_key: Some(Secret::new("outage-admin-key")),
        database_pool_size: Some(4),
        request_timeout_secs: 3,
        queue_admit_interval_ms: 100,
        expiry_sweep_interval_ms: 200,
        demo_data: false,
        ..Config::for_tests()
    })
    .await
    .expect("the service starts");
    let base = app.base_url();
    let jwt = app
        .mint_token(5, Duration::from_secs(3600))
        .expect("a user token");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let ready = || send(http.get(format!("{base}/health/ready")));
    let live = || send(http.get(format!("{base}/health/live")));
    let wallet = || send(http.get(format!("{base}/api/v1/wallet")).bearer_auth(&jwt));
    let charge = |key: &'static str, amount: i64| {
        send(
            http.post(format!("{base}/api/v1/wallet/charges"))
                .bearer_auth(&jwt)
                .header("Idempotency-Key", key)
                .json(&json!({ "amount": amount })),
        )
    };
    assert_eq!(ready().await.status, StatusCode::OK);
    let first = charge("before", 10_000).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    assert_eq!(wallet().await.body["balance"], 10_000);

    // Act 1: the database hangs (every PostgreSQL process stopped): connections open but
    // nothing answers, so only the timeouts can end a request.
    cluster.signal("STOP");
    let hung = Phase::observe("database hung", &ready, &wallet, &charge, &live).await;
    cluster.signal("CONT");
    let thawed = wait_ready(&ready).await;

    // Assert 1: bounded 503s with Retry-After, still live, healed once it answers again.
    hung.assert_unavailable();
    let after_hang = charge("after-hang", 2_000).await;
    assert_eq!(after_hang.status, StatusCode::CREATED, "{after_hang:?}");
    assert_eq!(
        after_hang.body["balance"], 12_000,
        "the refused charge changed nothing"
    );
    eprintln!("database answered again: ready after {thawed:?}");

    // Act 2: the database goes away (immediate shutdown: connections refused).
    cluster.stop_immediate();
    let down = Phase::observe("database down", &ready, &wallet, &charge, &live).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // background jobs fail a few ticks
    let still_live = live().await;
    cluster.restart();
    let healed = wait_ready(&ready).await;
    let retried = charge("during", 5_000).await;
    let another = charge("after", 1_000).await;
    let balance = wallet().await;
    eprintln!(
        "database back: ready after {healed:?}; charges {} and {}; balance {}",
        retried.status, another.status, balance.body["balance"]
    );

    // Assert 2: quick 503s while down; everything works again by itself, each charge once.
    down.assert_unavailable();
    assert_eq!(still_live.status, StatusCode::OK, "{still_live:?}");
    assert_eq!(retried.status, StatusCode::CREATED, "{retried:?}");
    assert_eq!(retried.body["balance"], 17_000);
    assert_eq!(another.status, StatusCode::CREATED, "{another:?}");
    assert_eq!(balance.status, StatusCode::OK, "{balance:?}");
    assert_eq!(balance.body["balance"], 18_000);
    let ledger = send(
        http.get(format!("{base}/api/v1/wallet/transactions"))
            .bearer_auth(&jwt),
    )
    .await;
    let amounts: Vec<i64> = ledger.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["amount"].as_i64())
        .collect();
    assert_eq!(
        amounts,
        vec![1_000, 5_000, 2_000, 10_000],
        "each charge once, newest first"
    );
    app.stop().await.expect("clean stop");
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "something panicked");
}
