//! The concert reservation service as a program: configuration ([`Config`], from flags and the
//! environment), telemetry, wiring of the store, the use cases, the HTTP server and the
//! background jobs, and graceful shutdown on SIGINT/SIGTERM.
//!
//! The binary (`concert-reservation`) only calls [`run`]; tests start the whole service
//! in-process with [`spawn_app`] on a free port and stop it with [`RunningApp::stop`]:
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let app = app::spawn_app(app::Config { hold_ttl_secs: 1, ..app::Config::for_tests() }).await?;
//! let url = format!("{}/health/live", app.base_url());
//! # let _ = url;
//! app.stop().await?;
//! # Ok(()) }
//! ```

pub mod config;
pub mod telemetry;
mod wiring;

pub use config::{Cli, Command, Config, ConfigError, LogFormat, Resolved, Secret};
pub use wiring::StoreKind;

use actix_web::dev::ServerHandle;
use adapters_http::{HttpConfig, Metrics};
use adapters_scheduler::SchedulerHandle;
use anyhow::{anyhow, bail, Context as _};
use application::{JoinRateLimiter, MaintenanceJobs, Services};
use domain::UserId;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// Longest validity `mint-token` accepts (one year).
pub const MAX_MINT_TTL_SECS: u64 = 365 * 24 * 3600;

/// The service, running in this process: the HTTP server on [`RunningApp::addr`] and the
/// background jobs. Stop it with [`RunningApp::stop`]; merely dropping it asks both to stop
/// without waiting (in-flight requests are cut).
pub struct RunningApp {
    /// The address the server actually listens on (the real port when `BIND_ADDR` asked for 0).
    pub addr: SocketAddr,
    /// The settings it was started with.
    pub config: Config,
    /// The validated settings in force (policies, secrets, intervals).
    pub resolved: Resolved,
    /// Which store backs it.
    pub store: StoreKind,
    services: Services,
    shutdown: CancellationToken,
    server: ServerHandle,
    server_task: Option<JoinHandle<io::Result<()>>>,
    scheduler: Option<SchedulerHandle>,
}

impl std::fmt::Debug for RunningApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningApp")
            .field("addr", &self.addr)
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Starts the service in-process: validates `config`, builds the store (running migrations
/// with a database), binds `config.bind_addr` (use port 0 in tests), and starts the HTTP server
/// and the background jobs on the current tokio runtime. Does not install signal handlers and
/// does not install a log subscriber (see [`telemetry::init`]).
///
/// # Errors
/// A refused setting ([`ConfigError`]), a store that cannot be set up, an address that cannot
/// be bound.
pub async fn spawn_app(config: Config) -> anyhow::Result<RunningApp> {
    let resolved = config.resolve()?;
    if config.in_memory() && config.jwt_secret.is_none() {
        warn!("JWT_SECRET not set: using the development secret (in-memory mode only)");
    }
    if config.in_memory() && config.admin_api_key.is_none() {
        warn!("ADMIN_API_KEY not set: using the development key (in-memory mode only)");
    }
    log_demo_sign_in(&config, &resolved);
    if !resolved.cors.is_none() {
        info!(origins = %resolved.cors, "CORS: pages on these origins may call the API");
    }

    let (ports, store) = wiring::ports(&config, &resolved).await?;
    let services = Services::new(
        ports,
        resolved.settings,
        JoinRateLimiter::new(resolved.join_rate_limit),
    )
    .with_waitlist_policy(resolved.waitlist);

    let listener = std::net::TcpListener::bind(&config.bind_addr)
        .with_context(|| format!("cannot listen on BIND_ADDR {}", config.bind_addr))?;
    let addr = listener.local_addr().context("reading the bound address")?;

    let http_config = http_config(&resolved);
    let server = adapters_http::build_server(
        services.clone(),
        http_config,
        Metrics::new(),
        listener,
        resolved.http_workers,
    )
    .context("starting the HTTP server")?;
    let server_handle = server.handle();
    let server_task = tokio::spawn(server);

    let shutdown = CancellationToken::new();
    let scheduler = adapters_scheduler::spawn(
        MaintenanceJobs::new(services.clone()),
        resolved.job_intervals,
        shutdown.clone(),
    );

    info!(
        %addr,
        store = ?store,
        http_workers = resolved.http_workers,
        "listening on http://{addr}"
    );
    Ok(RunningApp {
        addr,
        config,
        resolved,
        store,
        services,
        shutdown,
        server: server_handle,
        server_task: Some(server_task),
        scheduler: Some(scheduler),
    })
}

/// The HTTP adapter's settings, from the validated configuration.
fn http_config(resolved: &Resolved) -> HttpConfig {
    HttpConfig {
        jwt_secret: resolved.jwt_secret.expose().to_owned(),
        jwt_rules: resolved.jwt_rules.clone(),
        admin_api_key: resolved.admin_api_key.expose().to_owned(),
        body_limit_bytes: config::BODY_LIMIT_BYTES,
        request_timeout: resolved.request_timeout,
        demo_sign_in: resolved.demo_sign_in,
        cors: resolved.cors.clone(),
    }
}

/// The OpenAPI document a server with `config` serves, rendered as checked in at
/// `docs/openapi.json` (see [`adapters_http::openapi::render`]). It is asked of the same HTTP
/// application the server runs, built in-process over an empty in-memory store: the document
/// depends on the settings (limits, demo sign-in), never on the store, so no database is opened
/// and no port bound.
///
/// # Errors
/// A refused setting, or an application that does not answer its document.
pub async fn openapi_document(config: &Config) -> anyhow::Result<String> {
    let resolved = config.resolve()?;
    let services = Services::new(
        wiring::empty_memory_ports(),
        resolved.settings,
        JoinRateLimiter::new(resolved.join_rate_limit),
    )
    .with_waitlist_policy(resolved.waitlist);
    let doc = adapters_http::openapi_document(services, &http_config(&resolved))
        .await
        .map_err(|e| anyhow!(e))?;
    Ok(adapters_http::openapi::render(&doc))
}

/// Says when the demo sign-in is served: a warning with a database, where it lets anyone act
/// as any user of real data.
fn log_demo_sign_in(config: &Config, resolved: &Resolved) {
    if !resolved.demo_sign_in {
        return;
    }
    if config.in_memory() {
        info!("demo sign-in is on: POST /api/v1/demo/sign-in mints a token for any user id");
    } else {
        warn!(
            "DEMO_SIGN_IN is on with DATABASE_URL: anyone can sign in as any user \
             (POST /api/v1/demo/sign-in); turn it off outside demos"
        );
    }
}

impl RunningApp {
    /// `http://<addr>`, without a trailing slash.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The use cases the server runs on (same ports and settings).
    #[must_use]
    pub const fn services(&self) -> &Services {
        &self.services
    }

    /// A user JWT accepted by this instance (with its `iss` and `aud`, when configured),
    /// valid for `ttl`.
    ///
    /// # Errors
    /// A user id that is not a positive integer.
    pub fn mint_token(&self, user_id: i64, ttl: Duration) -> anyhow::Result<String> {
        let user = UserId::new(user_id).map_err(|e| anyhow!("invalid user id {user_id}: {e}"))?;
        Ok(adapters_http::mint_user_jwt_for(
            self.resolved.jwt_secret.expose(),
            &self.resolved.jwt_rules,
            user,
            ttl,
        ))
    }

    /// A token that, when cancelled, makes [`RunningApp::run_until`] shut the service down.
    #[must_use]
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until `signal` completes (or the shutdown token is cancelled, or the server stops
    /// on its own), then shuts down gracefully as [`RunningApp::stop`] does.
    ///
    /// # Errors
    /// The HTTP server failed.
    pub async fn run_until<F: Future<Output = ()>>(mut self, signal: F) -> anyhow::Result<()> {
        let Some(mut task) = self.server_task.take() else {
            return self.stop().await;
        };
        let ended_early = tokio::select! {
            () = signal => None,
            () = self.shutdown.cancelled() => None,
            result = &mut task => Some(result),
        };
        match ended_early {
            None => {
                info!("shutting down: finishing in-flight requests and background jobs");
                self.server_task = Some(task);
                self.stop().await
            }
            Some(result) => {
                error!("the HTTP server stopped on its own; shutting down");
                self.stop().await?;
                flatten(result)
            }
        }
    }

    /// Graceful shutdown: stops accepting connections and lets in-flight requests finish, stops
    /// the background jobs after their tick in progress, and waits for both.
    ///
    /// # Errors
    /// The HTTP server failed.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let scheduler = self.scheduler.take();
        let server = self.server.clone();
        let ((), ()) = tokio::join!(server.stop(true), async move {
            if let Some(scheduler) = scheduler {
                scheduler.join().await;
            }
        });
        let result = match self.server_task.take() {
            Some(task) => flatten(task.await),
            None => Ok(()),
        };
        info!("stopped");
        result
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        if self.server_task.is_some() {
            self.shutdown.cancel();
            // The stop command is sent at once; its completion is not awaited.
            drop(self.server.stop(false));
        }
    }
}

fn flatten(result: Result<io::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(anyhow::Error::new(e).context("the HTTP server failed")),
        Err(e) => Err(anyhow!("the HTTP server task failed: {e}")),
    }
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("SIGINT received"),
        () = terminate => info!("SIGTERM received"),
    }
}

/// Runs the service until SIGINT or SIGTERM, then shuts down gracefully.
///
/// # Errors
/// As [`spawn_app`] and [`RunningApp::run_until`].
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let app = spawn_app(config).await?;
    app.run_until(shutdown_signal()).await
}

/// A user JWT for `user_id`, signed with the configured `JWT_SECRET`, valid for `ttl_secs`,
/// with `iss` and `aud` set to `JWT_ISSUER` and `JWT_AUDIENCE` when they are configured.
///
/// # Errors
/// A refused `JWT_SECRET` (see [`Config::jwt_secret`]), a blank `JWT_ISSUER` or
/// `JWT_AUDIENCE`, a user id that is not positive, a TTL of 0 or above [`MAX_MINT_TTL_SECS`].
pub fn mint_token(config: &Config, user_id: i64, ttl_secs: u64) -> anyhow::Result<String> {
    let secret = config.jwt_secret()?;
    let rules = config.jwt_rules()?;
    let user = UserId::new(user_id)
        .map_err(|_| anyhow!("--user-id must be a positive integer, got {user_id}"))?;
    if ttl_secs == 0 || ttl_secs > MAX_MINT_TTL_SECS {
        bail!("--ttl-secs must be between 1 and {MAX_MINT_TTL_SECS}, got {ttl_secs}");
    }
    Ok(adapters_http::mint_user_jwt_for(
        secret.expose(),
        &rules,
        user,
        Duration::from_secs(ttl_secs),
    ))
}

/// What the binary does with its command line.
///
/// # Errors
/// Anything that stops the program with a failure status; the caller prints it.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { config, command } = cli;
    match command.unwrap_or(Command::Serve) {
        Command::Serve => {
            telemetry::init(config.log_format)?;
            serve(config).await
        }
        Command::Migrate => {
            telemetry::init(config.log_format)?;
            let url = config
                .database_url
                .as_ref()
                .context("migrate needs DATABASE_URL (or --database-url)")?;
            wiring::migrate(url).await
        }
        Command::MintToken { user_id, ttl_secs } => {
            println!("{}", mint_token(&config, user_id, ttl_secs)?);
            Ok(())
        }
        Command::Openapi => {
            print!("{}", openapi_document(&config).await?);
            Ok(())
        }
    }
}
