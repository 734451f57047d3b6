//! The one chromedriver of this test binary: found, started on a free port, stopped at the end.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where Chromium and its WebDriver are (Debian's packages; `CHROMIUM` and `CHROMEDRIVER`
/// override the paths).
#[derive(Debug, Clone)]
pub struct Tools {
    /// The browser.
    pub chromium: PathBuf,
    /// Its WebDriver.
    pub chromedriver: PathBuf,
}

impl Tools {
    /// Both binaries, or a message naming what is missing.
    pub fn find() -> Result<Self, String> {
        let path = |var: &str, default: &str| {
            std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
        };
        let tools = Self {
            chromium: path("CHROMIUM", "/usr/bin/chromium"),
            chromedriver: path("CHROMEDRIVER", "/usr/bin/chromedriver"),
        };
        let missing: Vec<String> = [&tools.chromium, &tools.chromedriver]
            .into_iter()
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        if missing.is_empty() {
            Ok(tools)
        } else {
            Err(format!(
                "{} missing (scripts/test installs Debian's chromium and chromium-driver)",
                missing.join(" and ")
            ))
        }
    }
}

/// A running chromedriver; [`Driver::stop`] ends it (a static is never dropped).
pub struct Driver {
    /// Its WebDriver URL, `http://127.0.0.1:<port>`.
    pub url: String,
    /// The browser every session starts.
    pub chromium: PathBuf,
    child: Mutex<Option<Child>>,
}

impl Driver {
    /// Starts chromedriver on a free port, logging to `log`, and waits until it listens.
    ///
    /// # Panics
    /// When it does not start or does not listen within 10 s.
    pub fn start(tools: &Tools, log: &Path) -> Self {
        let port = free_port();
        let log_file = std::fs::File::create(log).expect("chromedriver log file");
        let child = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log handle"))
            .stderr(log_file)
            .spawn()
            .expect("chromedriver starts");
        let driver = Self {
            url: format!("http://127.0.0.1:{port}"),
            chromium: tools.chromium.clone(),
            child: Mutex::new(Some(child)),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port} within 10 s (see {})",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    /// Kills chromedriver (the sessions were closed by their cases) and reaps it.
    pub fn stop(&self) {
        let taken = self.child.lock().map(|mut c| c.take());
        if let Ok(Some(mut child)) = taken {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port nothing listens on now (the OS's pick for port 0).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
