//! Operator configuration: every setting is an environment variable and a kebab-case flag of the
//! same name (`HOLD_TTL_SECS` / `--hold-ttl-secs`); a flag wins over the variable, which wins over
//! the default. [`Config::resolve`] validates everything at once into the domain's policies, so
//! a bad value stops the binary before it binds a port, with a message naming the setting.

use adapters_http::{CorsPolicy, JwtRules};
use adapters_scheduler::JobIntervals;
use application::{JoinRateLimit, Settings};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use domain::{
    HoldPolicy, InvalidPolicy, Money, PolicyField, PolicyRule, QueuePolicy, RefundPolicy,
    WaitlistPolicy, WalletPolicy, DEFAULT_BALANCE_MAX, DEFAULT_CHARGE_MAX,
    DEFAULT_MAX_SEATS_HELD_PER_USER, DEFAULT_MAX_SEATS_PER_RESERVATION,
};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::str::FromStr;
use std::time::Duration;

/// Default `BIND_ADDR`.
pub const DEFAULT_BIND_ADDR: &str = "127.0.0.1:8080";
/// `JWT_SECRET` used when neither it nor `DATABASE_URL` is set (demo mode only).
pub const DEV_JWT_SECRET: &str = "dev-secret";
/// `ADMIN_API_KEY` used when neither it nor `DATABASE_URL` is set (demo mode only).
pub const DEV_ADMIN_API_KEY: &str = "dev-admin-key";
/// Shortest `JWT_SECRET` accepted with a database: 32 bytes, the 256 bits of an HS256 key.
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// Largest request body the API accepts (fixed by the API contract: 64 KiB).
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// Longest accepted TTL or timeout, in seconds (7 days): keeps timestamp arithmetic far from
/// any overflow and catches a value typed in milliseconds by mistake.
pub const MAX_TTL_SECS: u64 = 7 * 24 * 3600;
/// Longest accepted job interval, in milliseconds (1 hour).
pub const MAX_INTERVAL_MS: u64 = 3600 * 1000;

/// A value that must not end up in logs (a secret, or a URL that may hold a password). Its
/// `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that needs it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The command line: the settings, then an optional subcommand (`serve` when none).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "concert-reservation",
    version,
    about = "Concert seat-reservation backend: waiting queue, seat holds, wallet and payments.",
    long_about = "Concert seat-reservation backend: waiting queue, seat holds, wallet and payments.\n\n\
        Every setting is an environment variable and a flag of the same name; a flag wins over \
        the variable. Without DATABASE_URL the service runs on an in-memory store with demo data \
        (lost on exit) and development secrets (only on a loopback BIND_ADDR); with it, \
        JWT_SECRET (at least 32 bytes) and ADMIN_API_KEY are required."
)]
pub struct Cli {
    /// The settings.
    #[command(flatten)]
    pub config: Config,
    /// What to do (default: `serve`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the binary does.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the HTTP API and the background jobs until SIGINT or SIGTERM (the default).
    Serve,
    /// Print a user JWT signed with JWT_SECRET, with `iss`/`aud` set to JWT_ISSUER/JWT_AUDIENCE
    /// when they are, for local use (tokens are normally issued by an external identity
    /// provider).
    MintToken {
        /// The user id to put in `sub` (a positive integer).
        #[arg(long)]
        user_id: i64,
        /// How long the token is valid, in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl_secs: u64,
    },
    /// Apply the database migrations to DATABASE_URL and exit.
    Migrate,
    /// Print the OpenAPI document this configuration serves at /api-docs/openapi.json (as
    /// checked in at docs/openapi.json: pretty-printed, keys sorted), without binding a port
    /// or opening a database. `scripts/openapi` regenerates the checked-in copy with it.
    Openapi,
}

/// Every operator setting, as given (see [`Config::resolve`] for the validated form). Build one
/// with [`Config::parse_from_args`] (flags and environment) or, in tests, [`Config::for_tests`]
/// plus struct-update overrides.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Config {
    /// Where the HTTP server listens (`host:port`; port 0 picks a free port).
    #[arg(long, env = "BIND_ADDR", default_value = DEFAULT_BIND_ADDR, global = true)]
    pub bind_addr: String,

    /// PostgreSQL URL. Unset: in-memory store with demo data, lost on exit.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<Secret>,

    /// Connections in the PostgreSQL pool [default: 4 × available CPUs, kept within 8..=64].
    #[arg(long, env = "DATABASE_POOL_SIZE", global = true)]
    pub database_pool_size: Option<u32>,

    /// HS256 secret of user JWTs, at least 32 bytes with DATABASE_URL [default: `dev-secret`
    /// without DATABASE_URL on a loopback BIND_ADDR; required otherwise].
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<Secret>,

    /// Required `iss` of user JWTs [default: not checked].
    #[arg(long, env = "JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,

    /// Required `aud` of user JWTs [default: not checked].
    #[arg(long, env = "JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,

    /// Operator key of /api/v1/admin/* [default: `dev-admin-key` without DATABASE_URL on a
    /// loopback BIND_ADDR; required otherwise].
    #[arg(long, env = "ADMIN_API_KEY", hide_env_values = true, global = true)]
    pub admin_api_key: Option<Secret>,

    /// Time between queue admission ticks, in milliseconds.
    #[arg(
        long,
        env = "QUEUE_ADMIT_INTERVAL_MS",
        default_value_t = 1000,
        global = true
    )]
    pub queue_admit_interval_ms: u64,

    /// Default number of tokens admitted per concert per tick.
    #[arg(long, env = "QUEUE_ADMIT_BATCH", default_value_t = 100, global = true)]
    pub queue_admit_batch: u32,

    /// Default cap of ACTIVE tokens per concert.
    #[arg(long, env = "QUEUE_MAX_ACTIVE", default_value_t = 1000, global = true)]
    pub queue_max_active: u32,

    /// Length of the active window of an admitted token, in seconds.
    #[arg(
        long,
        env = "QUEUE_ACTIVE_TTL_SECS",
        default_value_t = 600,
        global = true
    )]
    pub queue_active_ttl_secs: u64,

    /// A waiting token not polled for this many seconds is dropped.
    #[arg(
        long,
        env = "QUEUE_IDLE_TIMEOUT_SECS",
        default_value_t = 300,
        global = true
    )]
    pub queue_idle_timeout_secs: u64,

    /// How long a seat hold lasts, in seconds.
    #[arg(long, env = "HOLD_TTL_SECS", default_value_t = 300, global = true)]
    pub hold_ttl_secs: u64,

    /// How long a seat offered to a waiting-list entry is held for it, in seconds.
    #[arg(
        long,
        env = "WAITLIST_OFFER_TTL_SECS",
        default_value_t = 120,
        global = true
    )]
    pub waitlist_offer_ttl_secs: u64,

    /// Most seats in one hold.
    #[arg(
        long,
        env = "MAX_SEATS_PER_RESERVATION",
        default_value_t = DEFAULT_MAX_SEATS_PER_RESERVATION,
        global = true
    )]
    pub max_seats_per_reservation: u32,

    /// Most seats one user may hold at once, over all holds.
    #[arg(
        long,
        env = "MAX_SEATS_HELD_PER_USER",
        default_value_t = DEFAULT_MAX_SEATS_HELD_PER_USER,
        global = true
    )]
    pub max_seats_held_per_user: u32,

    /// Largest single wallet charge, in KRW.
    #[arg(
        long,
        env = "CHARGE_MAX",
        default_value_t = DEFAULT_CHARGE_MAX.won().unsigned_abs(),
        global = true
    )]
    pub charge_max: u64,

    /// Largest wallet balance, in KRW.
    #[arg(
        long,
        env = "BALANCE_MAX",
        default_value_t = DEFAULT_BALANCE_MAX.won().unsigned_abs(),
        global = true
    )]
    pub balance_max: u64,

    /// Refunds close this many hours before a schedule starts (0 to 8760).
    #[arg(
        long,
        env = "REFUND_CUTOFF_HOURS",
        default_value_t = domain::DEFAULT_REFUND_CUTOFF_HOURS,
        global = true
    )]
    pub refund_cutoff_hours: u32,

    /// Log output format; RUST_LOG filters (default `info`).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,

    /// HTTP worker threads [default: available CPUs].
    #[arg(long, env = "HTTP_WORKERS", global = true)]
    pub http_workers: Option<usize>,

    /// Queue joins allowed per user per window (0 disables the limit).
    #[arg(
        long,
        env = "QUEUE_JOIN_RATE_LIMIT",
        default_value_t = 10,
        global = true
    )]
    pub queue_join_rate_limit: u32,

    /// Length of the queue-join rate-limit window, in seconds.
    #[arg(
        long,
        env = "QUEUE_JOIN_RATE_WINDOW_SECS",
        default_value_t = 60,
        global = true
    )]
    pub queue_join_rate_window_secs: u32,

    /// Time between the expiry sweeps (active tokens, idle waiting tokens, holds), in ms.
    #[arg(
        long,
        env = "EXPIRY_SWEEP_INTERVAL_MS",
        default_value_t = 1000,
        global = true
    )]
    pub expiry_sweep_interval_ms: u64,

    /// Longest time one HTTP request may take before it is answered with an error, in seconds.
    #[arg(
        long,
        env = "REQUEST_TIMEOUT_SECS",
        default_value_t = 10,
        global = true
    )]
    pub request_timeout_secs: u64,

    /// Seed demo concerts when running on the in-memory store (ignored with DATABASE_URL).
    #[arg(
        long,
        env = "DEMO_DATA",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
        global = true
    )]
    pub demo_data: bool,

    /// Serve `POST /api/v1/demo/sign-in`, which mints a user token for any user id without
    /// credentials (for demos and front-end work; real tokens come from an identity provider)
    /// [default: `true` without `DATABASE_URL`, `false` with it].
    #[arg(
        long,
        env = "DEMO_SIGN_IN",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
        global = true
    )]
    pub demo_sign_in: Option<bool>,

    /// Origins whose pages may call the API from a browser (CORS): comma-separated exact
    /// origins (`https://app.example.com,http://localhost:5173`), `*` for any, or empty for none
    /// [default: `*` without `DATABASE_URL`, none with it].
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", global = true)]
    pub cors_allowed_origins: Option<String>,
}

/// Why the settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A secret that must be given explicitly when a database is configured.
    #[error(
        "{name} must be set to a real secret when DATABASE_URL is set \
         (the built-in development value is only allowed with the in-memory store)"
    )]
    SecretRequired {
        /// The variable's name.
        name: &'static str,
    },
    /// A development secret on an address other machines can reach (in-memory mode).
    #[error(
        "{name} must be set to a secret of your own when BIND_ADDR ({bind_addr}) is not a \
         loopback address (the built-in development value is public)"
    )]
    PublicDemoSecret {
        /// The variable's name.
        name: &'static str,
        /// The address the service would listen on.
        bind_addr: String,
    },
    /// A refused value (the domain's policy rules are reported here too, with the setting's
    /// name).
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// The variable's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.into(),
    }
}

/// The setting (environment variable) that carries a policy value of the domain.
#[must_use]
pub const fn setting_name(field: PolicyField) -> &'static str {
    match field {
        PolicyField::QueueAdmitBatch => "QUEUE_ADMIT_BATCH",
        PolicyField::QueueMaxActive => "QUEUE_MAX_ACTIVE",
        PolicyField::QueueAdmitInterval => "QUEUE_ADMIT_INTERVAL_MS",
        PolicyField::QueueActiveTtl => "QUEUE_ACTIVE_TTL_SECS",
        PolicyField::QueueIdleTimeout => "QUEUE_IDLE_TIMEOUT_SECS",
        PolicyField::HoldTtl => "HOLD_TTL_SECS",
        PolicyField::MaxSeatsPerReservation => "MAX_SEATS_PER_RESERVATION",
        PolicyField::MaxSeatsHeldPerUser => "MAX_SEATS_HELD_PER_USER",
        PolicyField::ChargeMax => "CHARGE_MAX",
        PolicyField::BalanceMax => "BALANCE_MAX",
    }
}

/// Reports a domain policy refusal in the operator's terms.
impl From<InvalidPolicy> for ConfigError {
    fn from(e: InvalidPolicy) -> Self {
        let reason = match e.rule {
            PolicyRule::AtLeastOne => "must be at least 1".to_owned(),
            PolicyRule::LongerThanZero => "must be longer than zero".to_owned(),
            PolicyRule::NotAbove(other) => format!("must not exceed {}", setting_name(other)),
        };
        invalid(setting_name(e.field), reason)
    }
}

/// The validated settings, ready for wiring.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The domain policies.
    pub settings: Settings,
    /// The per-user queue-join limit.
    pub join_rate_limit: JoinRateLimit,
    /// Waiting-list offers (`WAITLIST_OFFER_TTL_SECS`).
    pub waitlist: WaitlistPolicy,
    /// The JWT secret in force (the development one in demo mode).
    pub jwt_secret: Secret,
    /// The `iss` and `aud` user JWTs must carry (each only when configured).
    pub jwt_rules: JwtRules,
    /// The operator key in force (the development one in demo mode).
    pub admin_api_key: Secret,
    /// Connections in the PostgreSQL pool.
    pub database_pool_size: usize,
    /// HTTP worker threads.
    pub http_workers: usize,
    /// The background jobs' intervals.
    pub job_intervals: JobIntervals,
    /// Per-request time limit.
    pub request_timeout: Duration,
    /// The PostgreSQL store's bound on one operation up to its commit: derived from the request
    /// timeout by [`store_operation_timeout`], so the store gives up (and rolls back) before a
    /// request is answered 503 for taking too long.
    pub store_operation_timeout: Duration,
    /// Whether the demo sign-in is served (`DEMO_SIGN_IN`, by default only without a database).
    pub demo_sign_in: bool,
    /// Which origins' pages may call the API (`CORS_ALLOWED_ORIGINS`).
    pub cors: CorsPolicy,
}

/// The store's operation timeout for a request timeout: half of it. A write is the last step of
/// its request, normally after a read or two of milliseconds, so it still ends, committed or
/// rolled back, before the request timeout; the other half is room for those reads, for waiting
/// on a `COMMIT` already sent, and for answering.
#[must_use]
pub fn store_operation_timeout(request_timeout: Duration) -> Duration {
    request_timeout / 2
}

fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// The default pool size: 4 connections per CPU (requests hold a connection only for one short
/// transaction, and several wait on I/O at once), kept within 8..=64 so a tiny container still
/// has a few and a big machine does not exhaust PostgreSQL's default `max_connections` of 100.
/// (The same rule as `adapters_postgres::PgConfig::new`.)
#[must_use]
pub fn default_pool_size() -> usize {
    (4 * available_cpus()).clamp(8, 64)
}

impl Config {
    /// Parses flags (the first item is the program name) and the environment, like the binary.
    ///
    /// # Errors
    /// clap's error for an unknown flag or a malformed number; `--help` and `--version` are
    /// errors too (print them with `err.exit()`).
    pub fn parse_from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Cli::try_parse_from(args).map(|cli| cli.config)
    }

    /// The declared defaults (those of the command line, read without flags or the
    /// environment), except that the server listens on `127.0.0.1:0` (a free port) with two
    /// HTTP workers (tests start many instances). Override fields for a test:
    /// `Config { hold_ttl_secs: 1, ..Config::for_tests() }`.
    ///
    /// # Panics
    /// If the declared defaults do not parse (`the_command_line_is_well_formed` catches that).
    #[must_use]
    pub fn for_tests() -> Self {
        let matches = Cli::command()
            .mut_args(|arg| arg.env(None))
            .try_get_matches_from(["concert-reservation"])
            .and_then(|m| Cli::from_arg_matches(&m));
        let defaults = match matches {
            Ok(cli) => cli.config,
            Err(e) => panic!("the declared defaults do not parse: {e}"),
        };
        Self {
            bind_addr: "127.0.0.1:0".to_owned(),
            http_workers: Some(2),
            ..defaults
        }
    }

    /// Whether the in-memory store is used (no `DATABASE_URL`).
    #[must_use]
    pub const fn in_memory(&self) -> bool {
        self.database_url.is_none()
    }

    /// Whether the demo sign-in is served: `DEMO_SIGN_IN` when set, else only with the
    /// in-memory store (it lets anyone act as any user).
    #[must_use]
    pub fn demo_sign_in(&self) -> bool {
        self.demo_sign_in.unwrap_or_else(|| self.in_memory())
    }

    /// The origins allowed to call the API from a browser: `CORS_ALLOWED_ORIGINS` when set, else
    /// any origin with the in-memory store (the mock server front-ends code against) and none
    /// with a database.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for an item that is not `scheme://host[:port]`, or a `*` that
    /// is not alone.
    pub fn cors_policy(&self) -> Result<CorsPolicy, ConfigError> {
        match &self.cors_allowed_origins {
            Some(value) => {
                CorsPolicy::parse(value).map_err(|e| invalid("CORS_ALLOWED_ORIGINS", e.to_string()))
            }
            None if self.in_memory() => Ok(CorsPolicy::any_origin()),
            None => Ok(CorsPolicy::none()),
        }
    }

    /// Whether `BIND_ADDR` names a loopback address (`127.0.0.0/8`, `::1`, `localhost`), which
    /// only this machine can reach. Any other host name counts as reachable.
    #[must_use]
    pub fn binds_loopback(&self) -> bool {
        match self.bind_addr.parse::<SocketAddr>() {
            Ok(addr) => match addr.ip() {
                IpAddr::V4(ip) => ip.is_loopback(),
                IpAddr::V6(ip) => {
                    ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
                }
            },
            Err(_) => self
                .bind_addr
                .rsplit_once(':')
                .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost")),
        }
    }

    /// The JWT secret in force: `JWT_SECRET`, or the development one without a database.
    ///
    /// # Errors
    /// [`ConfigError::SecretRequired`] with a database and no (or the development) secret;
    /// [`ConfigError::Invalid`] for an empty one, or one shorter than
    /// [`MIN_JWT_SECRET_BYTES`] with a database.
    pub fn jwt_secret(&self) -> Result<Secret, ConfigError> {
        let secret = self.secret("JWT_SECRET", self.jwt_secret.as_ref(), DEV_JWT_SECRET)?;
        if !self.in_memory() && secret.expose().len() < MIN_JWT_SECRET_BYTES {
            return Err(invalid(
                "JWT_SECRET",
                format!(
                    "must be at least {MIN_JWT_SECRET_BYTES} bytes with DATABASE_URL \
                     (an HS256 key has 256 bits)"
                ),
            ));
        }
        Ok(secret)
    }

    /// The issuer and audience user JWTs must name (`JWT_ISSUER`, `JWT_AUDIENCE`).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a blank one.
    pub fn jwt_rules(&self) -> Result<JwtRules, ConfigError> {
        let given = |name: &'static str, value: Option<&String>| match value {
            Some(v) if v.trim().is_empty() => Err(invalid(name, "must not be blank when set")),
            other => Ok(other.cloned()),
        };
        Ok(JwtRules {
            issuer: given("JWT_ISSUER", self.jwt_issuer.as_ref())?,
            audience: given("JWT_AUDIENCE", self.jwt_audience.as_ref())?,
        })
    }

    /// Refuses a development secret (default or typed in) on an address other machines can
    /// reach: anyone could mint user tokens or act as the operator.
    fn refuse_public_demo_secrets(&self) -> Result<(), ConfigError> {
        if !self.in_memory() || self.binds_loopback() {
            return Ok(());
        }
        for (name, given, dev) in [
            ("JWT_SECRET", self.jwt_secret.as_ref(), DEV_JWT_SECRET),
            (
                "ADMIN_API_KEY",
                self.admin_api_key.as_ref(),
                DEV_ADMIN_API_KEY,
            ),
        ] {
            if given.is_none_or(|s| s.expose() == dev) {
                return Err(ConfigError::PublicDemoSecret {
                    name,
                    bind_addr: self.bind_addr.clone(),
                });
            }
        }
        Ok(())
    }

    /// The operator key in force: `ADMIN_API_KEY`, or the development one without a database.
    ///
    /// # Errors
    /// As [`Config::jwt_secret`].
    pub fn admin_api_key(&self) -> Result<Secret, ConfigError> {
        self.secret(
            "ADMIN_API_KEY",
            self.admin_api_key.as_ref(),
            DEV_ADMIN_API_KEY,
        )
    }

    fn secret(
        &self,
        name: &'static str,
        given: Option<&Secret>,
        dev: &str,
    ) -> Result<Secret, ConfigError> {
        match given {
            Some(s) if s.expose().trim().is_empty() => {
                if self.in_memory() {
                    Err(invalid(name, "must not be empty"))
                } else {
                    Err(ConfigError::SecretRequired { name })
                }
            }
            Some(s) if !self.in_memory() && s.expose() == dev => {
                Err(ConfigError::SecretRequired { name })
            }
            Some(s) => Ok(s.clone()),
            None if self.in_memory() => Ok(Secret::new(dev)),
            None => Err(ConfigError::SecretRequired { name }),
        }
    }

    /// Validates every setting at once, in a fixed order (the first bad one is reported).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first refused setting.
    pub fn resolve(&self) -> Result<Resolved, ConfigError> {
        let jwt_secret = self.jwt_secret()?;
        let admin_api_key = self.admin_api_key()?;
        self.refuse_public_demo_secrets()?;
        let jwt_rules = self.jwt_rules()?;
        let cors = self.cors_policy()?;

        let secs = |name: &'static str, v: u64| -> Result<Duration, ConfigError> {
            if v > MAX_TTL_SECS {
                Err(invalid(name, format!("must be at most {MAX_TTL_SECS} s")))
            } else {
                Ok(Duration::from_secs(v))
            }
        };
        let millis = |name: &'static str, v: u64| -> Result<Duration, ConfigError> {
            if v > MAX_INTERVAL_MS {
                Err(invalid(
                    name,
                    format!("must be at most {MAX_INTERVAL_MS} ms"),
                ))
            } else {
                Ok(Duration::from_millis(v))
            }
        };
        let money = |name: &'static str, v: u64| -> Result<Money, ConfigError> {
            i64::try_from(v)
                .ok()
                .and_then(|v| Money::new(v).ok())
                .ok_or_else(|| invalid(name, format!("must be at most {}", i64::MAX)))
        };

        let queue = QueuePolicy::new(
            self.queue_admit_batch,
            self.queue_max_active,
            millis("QUEUE_ADMIT_INTERVAL_MS", self.queue_admit_interval_ms)?,
            secs("QUEUE_ACTIVE_TTL_SECS", self.queue_active_ttl_secs)?,
            secs("QUEUE_IDLE_TIMEOUT_SECS", self.queue_idle_timeout_secs)?,
        )?;
        let hold = HoldPolicy::new(
            secs("HOLD_TTL_SECS", self.hold_ttl_secs)?,
            self.max_seats_per_reservation,
            self.max_seats_held_per_user,
        )?;
        if hold.max_seats_per_reservation() > hold.max_seats_held_per_user() {
            // Such a hold could never succeed.
            return Err(InvalidPolicy {
                field: PolicyField::MaxSeatsPerReservation,
                rule: PolicyRule::NotAbove(PolicyField::MaxSeatsHeldPerUser),
            }
            .into());
        }
        let wallet = WalletPolicy::new(
            money("CHARGE_MAX", self.charge_max)?,
            money("BALANCE_MAX", self.balance_max)?,
        )?;
        let waitlist = WaitlistPolicy::new(secs(
            "WAITLIST_OFFER_TTL_SECS",
            self.waitlist_offer_ttl_secs,
        )?)
        .ok_or_else(|| invalid("WAITLIST_OFFER_TTL_SECS", "must be at least 1"))?;

        if self.queue_join_rate_window_secs == 0 {
            return Err(invalid("QUEUE_JOIN_RATE_WINDOW_SECS", "must be at least 1"));
        }
        let join_rate_limit = JoinRateLimit {
            max_joins: self.queue_join_rate_limit,
            window_secs: self.queue_join_rate_window_secs,
        };

        if self.expiry_sweep_interval_ms == 0 {
            return Err(invalid("EXPIRY_SWEEP_INTERVAL_MS", "must be at least 1"));
        }
        let sweep = millis("EXPIRY_SWEEP_INTERVAL_MS", self.expiry_sweep_interval_ms)?;
        let job_intervals = JobIntervals::new(queue.admit_interval(), sweep);

        if self.request_timeout_secs == 0 {
            return Err(invalid("REQUEST_TIMEOUT_SECS", "must be at least 1"));
        }
        let request_timeout = secs("REQUEST_TIMEOUT_SECS", self.request_timeout_secs)?;

        let database_pool_size = match self.database_pool_size {
            None => default_pool_size(),
            Some(0) => return Err(invalid("DATABASE_POOL_SIZE", "must be at least 1")),
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        let http_workers = match self.http_workers {
            None => available_cpus(),
            Some(0) => return Err(invalid("HTTP_WORKERS", "must be at least 1")),
            Some(n) if n > 1024 => return Err(invalid("HTTP_WORKERS", "must be at most 1024")),
            Some(n) => n,
        };

        Ok(Resolved {
            settings: Settings {
                queue,
                hold,
                wallet,
                refund: RefundPolicy::new(self.refund_cutoff_hours).map_err(|_| {
                    invalid(
                        "REFUND_CUTOFF_HOURS",
                        format!("must be at most {}", domain::REFUND_CUTOFF_HOURS_MAX),
                    )
                })?,
            },
            join_rate_limit,
            waitlist,
            jwt_secret,
            jwt_rules,
            admin_api_key,
            database_pool_size,
            http_workers,
            job_intervals,
            request_timeout,
            store_operation_timeout: store_operation_timeout(request_timeout),
            demo_sign_in: self.demo_sign_in(),
            cors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Mutex, MutexGuard, PoisonError};

    /// Every variable the binary reads (as the command line declares them); cleared around the
    /// tests that parse, which run one at a time (the process environment is shared by all
    /// tests of this binary).
    fn vars() -> Vec<String> {
        Cli::command()
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|v| v.to_string_lossy().into_owned())
            .collect()
    }

    static ENV: Mutex<()> = Mutex::new(());

    /// Holds the environment lock with every variable of ours unset.
    fn clean_env() -> MutexGuard<'static, ()> {
        let guard = ENV.lock().unwrap_or_else(PoisonError::into_inner);
        for var in vars() {
            std::env::remove_var(var);
        }
        guard
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("concert-reservation").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let _env = clean_env();
        let cli = parse(&[]).expect("no arguments parse");
        assert_eq!(cli.command, None, "serve is the default");
        let c = cli.config;
        assert_eq!(
            c,
            Config {
                bind_addr: DEFAULT_BIND_ADDR.to_owned(),
                http_workers: None,
                ..Config::for_tests()
            }
        );
        let r = c.resolve().expect("defaults are valid");
        assert_eq!(r.jwt_secret.expose(), DEV_JWT_SECRET);
        assert_eq!(r.admin_api_key.expose(), DEV_ADMIN_API_KEY);
        assert_eq!(r.settings.queue.admit_batch(), 100);
        assert_eq!(r.settings.queue.max_active(), 1000);
        assert_eq!(r.settings.queue.admit_interval(), Duration::from_secs(1));
        assert_eq!(r.settings.queue.active_ttl(), Duration::from_secs(600));
        assert_eq!(r.settings.queue.idle_timeout(), Duration::from_secs(300));
        assert_eq!(r.settings.hold.ttl(), Duration::from_secs(300));
        assert_eq!(r.settings.hold.max_seats_per_reservation(), 4);
        assert_eq!(r.settings.hold.max_seats_held_per_user(), 4);
        assert_eq!(r.settings.wallet.charge_max().won(), 1_000_000);
        assert_eq!(r.settings.wallet.balance_max().won(), 100_000_000);
        assert_eq!(
            r.join_rate_limit,
            JoinRateLimit {
                max_joins: 10,
                window_secs: 60
            }
        );
        assert_eq!(
            r.job_intervals,
            JobIntervals::new(Duration::from_secs(1), Duration::from_secs(1))
        );
        assert_eq!(r.request_timeout, Duration::from_secs(10));
        assert_eq!(r.store_operation_timeout, Duration::from_secs(5));
        assert_eq!(r.http_workers, available_cpus());
        assert_eq!(r.database_pool_size, default_pool_size());
        assert!((8..=64).contains(&r.database_pool_size));
    }

    #[test]
    fn a_flag_wins_over_the_environment_which_wins_over_the_default() {
        let _env = clean_env();
        std::env::set_var("HOLD_TTL_SECS", "7");
        std::env::set_var("QUEUE_MAX_ACTIVE", "3");
        std::env::set_var("LOG_FORMAT", "json");
        std::env::set_var("DEMO_DATA", "false");
        let c = parse(&["--hold-ttl-secs", "9"]).expect("parses").config;
        assert_eq!(c.hold_ttl_secs, 9, "flag over env");
        assert_eq!(c.queue_max_active, 3, "env over default");
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(!c.demo_data);
        assert_eq!(c.queue_admit_batch, 100, "default");
        for var in vars() {
            std::env::remove_var(var);
        }
    }

    #[test]
    fn settings_may_follow_the_subcommand() {
        let _env = clean_env();
        let cli = parse(&[
            "serve",
            "--queue-admit-interval-ms",
            "100",
            "--demo-data",
            "no",
        ])
        .expect("parses");
        assert_eq!(cli.command, Some(Command::Serve));
        assert_eq!(cli.config.queue_admit_interval_ms, 100);
        assert!(!cli.config.demo_data);

        let cli = parse(&["--jwt-secret", "s", "mint-token", "--user-id", "7"]).expect("parses");
        assert_eq!(
            cli.command,
            Some(Command::MintToken {
                user_id: 7,
                ttl_secs: 3600
            })
        );
        assert_eq!(cli.config.jwt_secret, Some(Secret::new("s")));
    }

    #[test]
    fn malformed_numbers_and_unknown_flags_are_refused() {
        let _env = clean_env();
        assert!(parse(&["--hold-ttl-secs", "-1"]).is_err());
        assert!(parse(&["--hold-ttl-secs", "soon"]).is_err());
        assert!(parse(&["--log-format", "xml"]).is_err());
        assert!(parse(&["--no-such-flag"]).is_err());
    }

    #[test]
    fn help_lists_every_setting_with_its_variable_and_default() {
        let help = Cli::command().render_long_help().to_string();
        let vars = vars();
        assert!(vars.len() >= 24, "{vars:?}");
        for var in vars {
            assert!(
                help.contains(&format!("env: {var}")),
                "{var} missing in --help"
            );
            let flag = format!("--{}", var.to_lowercase().replace('_', "-"));
            assert!(help.contains(&flag), "{flag} missing in --help");
        }
        assert!(help.contains("[default: 127.0.0.1:8080]"));
        assert!(help.contains("[default: 300]"));
        assert!(help.contains("dev-secret"));
    }

    #[test]
    fn every_policy_value_is_reported_under_a_declared_setting() {
        // Arrange
        let vars = vars();

        // Act
        let names: Vec<&str> = PolicyField::ALL.into_iter().map(setting_name).collect();

        // Assert
        for name in names {
            assert!(vars.iter().any(|v| v == name), "{name} is not a setting");
        }
    }

    #[test]
    fn a_database_requires_real_secrets() {
        let db = Config {
            database_url: Some(Secret::new("postgres://u:p@localhost/db")),
            ..Config::for_tests()
        };
        assert_eq!(
            db.resolve().map(|_| ()),
            Err(ConfigError::SecretRequired { name: "JWT_SECRET" })
        );
        let err = db
            .resolve()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("JWT_SECRET must be set"), "{err}");

        let with_jwt = Config {
            jwt_secret: Some(Secret::new(REAL_SECRET)),
            ..db.clone()
        };
        assert_eq!(
            with_jwt.resolve().map(|_| ()),
            Err(ConfigError::SecretRequired {
                name: "ADMIN_API_KEY"
            })
        );

        let dev_values = Config {
            jwt_secret: Some(Secret::new(DEV_JWT_SECRET)),
            admin_api_key: Some(Secret::new("k")),
            ..db.clone()
        };
        assert_eq!(
            dev_values.resolve().map(|_| ()),
            Err(ConfigError::SecretRequired { name: "JWT_SECRET" }),
            "the development secret is not a real one"
        );

        let ok = Config {
            admin_api_key: Some(Secret::new("a-real-key")),
            ..with_jwt
        };
        let r = ok.resolve().expect("valid");
        assert_eq!(r.jwt_secret.expose(), REAL_SECRET);
    }

    /// A secret of exactly [`MIN_JWT_SECRET_BYTES`].
    const REAL_SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_database_refuses_a_jwt_secret_shorter_than_32_bytes() {
        // Arrange
        let with = |secret: &str, database: bool| Config {
            database_url: database.then(|| Secret::new("postgres://u:p@localhost/db")),
            jwt_secret: Some(Secret::new(secret)),
            admin_api_key: Some(Secret::new("a-real-key")),
            ..Config::for_tests()
        };
        let short = &REAL_SECRET[1..];

        // Act
        let refused = with(short, true).resolve().map(|_| ());
        let message = refused
            .clone()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();

        // Assert
        assert_eq!(REAL_SECRET.len(), MIN_JWT_SECRET_BYTES);
        assert!(
            matches!(
                refused,
                Err(ConfigError::Invalid {
                    name: "JWT_SECRET",
                    ..
                })
            ),
            "{refused:?}"
        );
        assert_eq!(
            message,
            "invalid setting JWT_SECRET: must be at least 32 bytes with DATABASE_URL \
             (an HS256 key has 256 bits)"
        );
        assert!(with(REAL_SECRET, true).resolve().is_ok());
        assert!(
            with(short, false).resolve().is_ok(),
            "the in-memory store keeps accepting short secrets"
        );
        assert!(
            crate::mint_token(&with(short, true), 1, 60).is_err(),
            "mint-token refuses it too"
        );
    }

    #[test]
    fn the_demo_sign_in_is_on_without_a_database_and_off_with_one_unless_set() {
        // Arrange
        let _env = clean_env();
        let with = |database: bool, flag: Option<bool>| Config {
            database_url: database.then(|| Secret::new("postgres://u:p@localhost/db")),
            jwt_secret: Some(Secret::new(REAL_SECRET)),
            admin_api_key: Some(Secret::new("a-real-key")),
            demo_sign_in: flag,
            ..Config::for_tests()
        };
        std::env::set_var("DEMO_SIGN_IN", "yes");

        // Act
        let from_env = parse(&[]).map(|c| c.config.demo_sign_in);
        let from_flag = parse(&["--demo-sign-in", "false"]).map(|c| c.config.demo_sign_in);
        let resolved = |database, flag| with(database, flag).resolve().map(|r| r.demo_sign_in);
        std::env::remove_var("DEMO_SIGN_IN");

        // Assert
        assert_eq!(
            Config::for_tests().demo_sign_in,
            None,
            "no declared default"
        );
        assert_eq!(from_env.ok(), Some(Some(true)));
        assert_eq!(from_flag.ok(), Some(Some(false)), "a flag wins");
        assert_eq!(resolved(false, None), Ok(true), "memory: on");
        assert_eq!(resolved(true, None), Ok(false), "database: off");
        assert_eq!(resolved(true, Some(true)), Ok(true), "turned on explicitly");
        assert_eq!(
            resolved(false, Some(false)),
            Ok(false),
            "turned off explicitly"
        );
    }

    #[test]
    fn cors_allows_any_origin_without_a_database_and_none_with_one_unless_set() {
        // Arrange
        let _env = clean_env();
        let with = |database: bool, origins: Option<&str>| Config {
            database_url: database.then(|| Secret::new("postgres://u:p@localhost/db")),
            jwt_secret: Some(Secret::new(REAL_SECRET)),
            admin_api_key: Some(Secret::new("a-real-key")),
            cors_allowed_origins: origins.map(str::to_owned),
            ..Config::for_tests()
        };
        std::env::set_var("CORS_ALLOWED_ORIGINS", "http://localhost:5173");

        // Act
        let from_env = parse(&[]).map(|c| c.config.cors_allowed_origins);
        let resolved = |database, origins| with(database, origins).resolve().map(|r| r.cors);
        std::env::remove_var("CORS_ALLOWED_ORIGINS");

        // Assert
        assert_eq!(Config::for_tests().cors_allowed_origins, None);
        assert_eq!(
            from_env.ok(),
            Some(Some("http://localhost:5173".to_owned()))
        );
        assert_eq!(resolved(false, None), Ok(CorsPolicy::any_origin()), "mock");
        assert_eq!(resolved(true, None), Ok(CorsPolicy::none()), "database");
        let listed = resolved(true, Some("https://app.example.com,http://localhost:5173"));
        assert_eq!(
            listed.map(|p| p.origins().to_vec()),
            Ok(vec![
                "https://app.example.com".to_owned(),
                "http://localhost:5173".to_owned()
            ])
        );
        assert_eq!(resolved(true, Some("*")), Ok(CorsPolicy::any_origin()));
        assert_eq!(resolved(false, Some("")), Ok(CorsPolicy::none()), "off");
    }

    #[test]
    fn an_invalid_cors_origin_is_refused_with_the_setting_named() {
        for value in [
            "https://app.example.com/",
            "app.example.com",
            "*,http://localhost:5173",
        ] {
            // Arrange
            let c = Config {
                cors_allowed_origins: Some(value.to_owned()),
                ..Config::for_tests()
            };

            // Act
            let message = refused(c);

            // Assert
            assert!(
                message.starts_with("invalid setting CORS_ALLOWED_ORIGINS: "),
                "{value}: {message}"
            );
        }
    }

    #[test]
    fn loopback_addresses_are_recognised() {
        let binds = |addr: &str| {
            Config {
                bind_addr: addr.to_owned(),
                ..Config::for_tests()
            }
            .binds_loopback()
        };
        for addr in [
            "127.0.0.1:8080",
            "127.1.2.3:0",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:80",
            "localhost:8080",
            "LOCALHOST:1",
        ] {
            assert!(binds(addr), "{addr} is loopback");
        }
        for addr in [
            "0.0.0.0:8080",
            "[::]:8080",
            "192.168.1.10:80",
            "10.0.0.1:0",
            "example.com:80",
            "localhost.example.com:80",
        ] {
            assert!(!binds(addr), "{addr} is reachable from elsewhere");
        }
    }

    #[test]
    fn demo_secrets_are_refused_on_a_public_address() {
        // Arrange
        let public = |jwt: Option<&str>, admin: Option<&str>| Config {
            bind_addr: "0.0.0.0:8080".to_owned(),
            jwt_secret: jwt.map(Secret::new),
            admin_api_key: admin.map(Secret::new),
            ..Config::for_tests()
        };
        let refused = |name: &'static str| {
            Err(ConfigError::PublicDemoSecret {
                name,
                bind_addr: "0.0.0.0:8080".to_owned(),
            })
        };

        // Act
        let nothing_set = public(None, None).resolve().map(|_| ());
        let message = nothing_set
            .clone()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();

        // Assert
        assert_eq!(nothing_set, refused("JWT_SECRET"));
        assert_eq!(
            message,
            "JWT_SECRET must be set to a secret of your own when BIND_ADDR (0.0.0.0:8080) is \
             not a loopback address (the built-in development value is public)"
        );
        assert_eq!(
            public(Some("mine"), None).resolve().map(|_| ()),
            refused("ADMIN_API_KEY")
        );
        assert_eq!(
            public(Some(DEV_JWT_SECRET), Some("key"))
                .resolve()
                .map(|_| ()),
            refused("JWT_SECRET"),
            "typing the development value in does not make it secret"
        );
        assert_eq!(
            public(Some("mine"), Some(DEV_ADMIN_API_KEY))
                .resolve()
                .map(|_| ()),
            refused("ADMIN_API_KEY")
        );
        let explicit = public(Some("mine"), Some("my-key"))
            .resolve()
            .expect("valid");
        assert_eq!(explicit.jwt_secret.expose(), "mine");
        let loopback = Config {
            bind_addr: "127.0.0.1:8080".to_owned(),
            ..Config::for_tests()
        };
        assert!(loopback.resolve().is_ok(), "demo mode stays as it was");
    }

    #[test]
    fn issuer_and_audience_are_optional_settings() {
        // Arrange
        let _env = clean_env();
        std::env::set_var("JWT_ISSUER", "https://id.example");

        // Act
        let unset = parse(&[]).map(|c| c.config.jwt_rules());
        let c = parse(&["--jwt-audience", "concerts"])
            .expect("parses")
            .config;
        let r = c.resolve().expect("valid");
        for var in vars() {
            std::env::remove_var(var);
        }

        // Assert
        assert!(matches!(unset, Ok(Ok(_))));
        assert_eq!(
            r.jwt_rules,
            JwtRules {
                issuer: Some("https://id.example".into()),
                audience: Some("concerts".into()),
            }
        );
        assert_eq!(
            Config::for_tests().resolve().map(|r| r.jwt_rules).ok(),
            Some(JwtRules::default()),
            "not checked unless set"
        );
        assert_eq!(
            refused(Config {
                jwt_audience: Some(" ".into()),
                ..Config::for_tests()
            }),
            "invalid setting JWT_AUDIENCE: must not be blank when set"
        );
    }

    #[test]
    fn mint_token_names_the_configured_issuer_and_audience() {
        // Arrange
        let c = Config {
            jwt_issuer: Some("https://id.example".into()),
            jwt_audience: Some("concerts".into()),
            ..Config::for_tests()
        };
        let strict = adapters_http::auth::AuthState::new(
            DEV_JWT_SECRET,
            DEV_ADMIN_API_KEY,
            &c.jwt_rules().expect("valid"),
        );

        // Act
        let token = crate::mint_token(&c, 9, 60).expect("minted");
        let plain = crate::mint_token(&Config::for_tests(), 9, 60).expect("minted");

        // Assert
        assert!(strict.verify_jwt(&token).is_ok());
        assert!(strict.verify_jwt(&plain).is_err());
    }

    #[test]
    fn an_empty_secret_is_refused() {
        let c = Config {
            jwt_secret: Some(Secret::new(" ")),
            ..Config::for_tests()
        };
        assert!(matches!(
            c.resolve(),
            Err(ConfigError::Invalid {
                name: "JWT_SECRET",
                ..
            })
        ));
    }

    #[test]
    fn secrets_and_the_database_url_are_not_printed() {
        let c = Config {
            database_url: Some(Secret::new("postgres://u:hunter2@db/x")),
            jwt_secret: Some(Secret::new("hunter2")),
            ..Config::for_tests()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    fn refused(c: Config) -> String {
        match c.resolve() {
            Ok(_) => String::from("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_policies_are_refused_with_the_setting_named() {
        let base = Config::for_tests;
        assert_eq!(
            refused(Config {
                hold_ttl_secs: 0,
                ..base()
            }),
            "invalid setting HOLD_TTL_SECS: must be longer than zero"
        );
        assert_eq!(
            refused(Config {
                queue_admit_batch: 0,
                ..base()
            }),
            "invalid setting QUEUE_ADMIT_BATCH: must be at least 1"
        );
        assert_eq!(
            refused(Config {
                queue_admit_interval_ms: 0,
                ..base()
            }),
            "invalid setting QUEUE_ADMIT_INTERVAL_MS: must be longer than zero"
        );
        assert_eq!(
            refused(Config {
                charge_max: 10,
                balance_max: 5,
                ..base()
            }),
            "invalid setting CHARGE_MAX: must not exceed BALANCE_MAX"
        );
        assert_eq!(
            refused(Config {
                max_seats_per_reservation: 5,
                ..base()
            }),
            "invalid setting MAX_SEATS_PER_RESERVATION: must not exceed MAX_SEATS_HELD_PER_USER"
        );
        assert_eq!(
            refused(Config {
                refund_cutoff_hours: 8761,
                ..base()
            }),
            "invalid setting REFUND_CUTOFF_HOURS: must be at most 8760"
        );
        assert!(refused(Config {
            balance_max: u64::MAX,
            ..base()
        })
        .starts_with("invalid setting BALANCE_MAX"));
        assert!(refused(Config {
            hold_ttl_secs: MAX_TTL_SECS + 1,
            ..base()
        })
        .starts_with("invalid setting HOLD_TTL_SECS"));
        for (c, name) in [
            (
                Config {
                    expiry_sweep_interval_ms: 0,
                    ..base()
                },
                "EXPIRY_SWEEP_INTERVAL_MS",
            ),
            (
                Config {
                    queue_join_rate_window_secs: 0,
                    ..base()
                },
                "QUEUE_JOIN_RATE_WINDOW_SECS",
            ),
            (
                Config {
                    request_timeout_secs: 0,
                    ..base()
                },
                "REQUEST_TIMEOUT_SECS",
            ),
            (
                Config {
                    http_workers: Some(0),
                    ..base()
                },
                "HTTP_WORKERS",
            ),
            (
                Config {
                    database_pool_size: Some(0),
                    ..base()
                },
                "DATABASE_POOL_SIZE",
            ),
        ] {
            assert_eq!(
                refused(c),
                format!("invalid setting {name}: must be at least 1")
            );
        }
    }

    #[test]
    fn test_overrides_are_honoured() {
        let r = Config {
            hold_ttl_secs: 1,
            queue_max_active: 2,
            queue_admit_interval_ms: 100,
            ..Config::for_tests()
        }
        .resolve()
        .expect("valid");
        assert_eq!(r.settings.hold.ttl(), Duration::from_secs(1));
        assert_eq!(r.settings.queue.max_active(), 2);
        assert_eq!(r.job_intervals.admit, Duration::from_millis(100));
    }

    #[test]
    fn the_store_gives_up_before_the_request_times_out() {
        for secs in [1, 2, 10, 60, MAX_TTL_SECS] {
            // Arrange
            let config = Config {
                request_timeout_secs: secs,
                ..Config::for_tests()
            };

            // Act
            let r = config.resolve().expect("valid");

            // Assert
            assert!(
                r.store_operation_timeout < r.request_timeout,
                "{secs} s: the store's {:?} must be shorter",
                r.store_operation_timeout
            );
            assert!(r.store_operation_timeout >= r.request_timeout / 4);
        }
        // The store's own default matches the service's default request timeout.
        assert_eq!(
            adapters_postgres::PgConfig::new("postgres://localhost/x").operation_timeout,
            store_operation_timeout(Duration::from_secs(10))
        );
    }
}
