//! Browser tests of issue 13: the web client the binary serves at `/`, driven in headless
//! Chromium through WebDriver (fantoccini talking to one chromedriver this binary starts), on the
//! in-memory store and on PostgreSQL. Each case saves a screenshot per step under
//! `target/screenshots/<case>-<store>/`.
//!
//! Outside CI, missing Chromium or chromedriver skips the cases with a message (scripts/test
//! installs them); with `CI` set it fails them.

#[allow(dead_code, unused_macros)]
#[path = "../acceptance/common.rs"]
mod common;
#[path = "../support/mod.rs"]
mod support;

mod browser;
mod driver;
mod errors;
mod expiry;
mod journey;
mod keyboard;
mod race;
mod scene;

use common::Store;
use driver::{Driver, Tools};
use futures::future::BoxFuture;
use futures::FutureExt;
use libtest_mimic::{Arguments, Failed, Trial};
use scene::Scene;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// One browser case: its name, how it configures the service, and its body.
struct Case {
    name: &'static str,
    tweak: fn(&mut app::Config),
    run: fn(Arc<Scene>) -> BoxFuture<'static, ()>,
}

/// Every case; each runs on both stores.
fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "journey",
            tweak: |_| {},
            run: |s| journey::whole_journey(s).boxed(),
        },
        Case {
            name: "race",
            tweak: |_| {},
            run: |s| race::last_seat_race(s).boxed(),
        },
        Case {
            name: "expiry",
            tweak: expiry::short_holds,
            run: |s| expiry::hold_runs_out(s).boxed(),
        },
        Case {
            name: "keyboard",
            tweak: |_| {},
            run: |s| keyboard::keyboard_only(s).boxed(),
        },
        Case {
            name: "error",
            tweak: |_| {},
            run: |s| errors::insufficient_balance(s).boxed(),
        },
    ]
}

/// The store a trial runs on.
#[derive(Clone, Copy)]
enum StoreKind {
    Memory,
    Postgres,
}

impl StoreKind {
    const fn label(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Postgres => "postgres",
        }
    }
}

/// What every trial shares: the tools, the chromedriver (started by the first trial that runs)
/// and the screenshot root.
struct Harness {
    tools: Result<Tools, String>,
    driver: OnceLock<Driver>,
    shots: PathBuf,
}

impl Harness {
    fn driver(&self, tools: &Tools) -> &Driver {
        self.driver.get_or_init(|| {
            std::fs::create_dir_all(&self.shots).expect("screenshot root");
            Driver::start(tools, &self.shots.join("chromedriver.log"))
        })
    }
}

/// `target/screenshots`, under `CARGO_TARGET_DIR` when set.
fn screenshot_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest.join("../..").canonicalize().unwrap_or(manifest);
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| workspace.join("target"), |t| workspace.join(t));
    target.join("screenshots")
}

/// Runs `case` on `store`: starts the service and the case's sessions, and closes the
/// sessions whatever happened.
fn run_trial(harness: &Harness, case: &Case, kind: StoreKind) -> Result<(), Failed> {
    let tools = harness
        .tools
        .as_ref()
        .map_err(|e| Failed::from(e.as_str()))?;
    let driver = harness.driver(tools);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let store = match kind {
            StoreKind::Memory => Store::Memory,
            StoreKind::Postgres => Store::postgres()
                .await
                .ok_or_else(|| Failed::from("TEST_DATABASE_URL unset"))?,
        };
        let name = format!("{}-{}", case.name, kind.label());
        let scene = Arc::new(Scene::start(name, &store, case.tweak, driver, &harness.shots).await);
        let outcome = AssertUnwindSafe((case.run)(Arc::clone(&scene)))
            .catch_unwind()
            .await;
        scene.close_sessions(outcome.is_err()).await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
        Ok(())
    })
}

fn main() -> std::process::ExitCode {
    let started = Instant::now();
    let mut args = Arguments::from_args();
    // Each case runs one or two Chromiums and a service: two at a time fit a small machine.
    args.test_threads = args.test_threads.or(Some(2));
    let in_ci = std::env::var_os("CI").is_some();
    let tools = Tools::find();
    if let Err(missing) = &tools {
        if !in_ci {
            eprintln!("browser tests skipped: {missing}");
        }
    }
    let no_postgres = std::env::var_os("TEST_DATABASE_URL").is_none() && !in_ci;
    if no_postgres {
        eprintln!("TEST_DATABASE_URL unset: skipping the PostgreSQL variants (run scripts/test)");
    }
    let skip_all = tools.is_err() && !in_ci;
    let harness = Arc::new(Harness {
        tools,
        driver: OnceLock::new(),
        shots: screenshot_root(),
    });

    let mut trials = Vec::new();
    for case in cases() {
        let case = Arc::new(case);
        for kind in [StoreKind::Memory, StoreKind::Postgres] {
            let (harness, case2) = (Arc::clone(&harness), Arc::clone(&case));
            let skip = skip_all || (no_postgres && matches!(kind, StoreKind::Postgres));
            trials.push(
                Trial::test(format!("{}::{}", case.name, kind.label()), move || {
                    run_trial(&harness, &case2, kind)
                })
                .with_ignored_flag(skip),
            );
        }
    }

    let conclusion = libtest_mimic::run(&args, trials);
    if let Some(driver) = harness.driver.get() {
        driver.stop();
    }
    println!(
        "browser tests: {} cases ran ({} passed, {} failed, {} skipped) in {:.1} s; screenshots in {}",
        conclusion.num_passed + conclusion.num_failed,
        conclusion.num_passed,
        conclusion.num_failed,
        conclusion.num_ignored,
        started.elapsed().as_secs_f64(),
        harness.shots.display()
    );
    conclusion.exit_code()
}
