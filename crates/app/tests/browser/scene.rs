//! What a case runs in: the service on one store, the seeded concert, the browser sessions it
//! opened (closed afterwards, whatever happened) and its screenshot folder.

use crate::common::{Store, TestApp};
use crate::driver::Driver;
use fantoccini::Client;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// A concert made for a case: its ids and its seats' ids in the order given.
pub struct Show {
    /// The concert.
    pub concert_id: i64,
    /// Its one schedule (a week ahead).
    pub schedule_id: i64,
    /// Every seat, row by row.
    pub seats: Vec<i64>,
}

/// One case's world.
pub struct Scene {
    /// The service under test (demo sign-in on, on either store).
    pub app: TestApp,
    /// `<case>-<store>`, the screenshot folder's name.
    pub case: String,
    webdriver: String,
    chromium: PathBuf,
    shots: PathBuf,
    step: AtomicU32,
    sessions: Mutex<Vec<(Client, PathBuf)>>,
}

impl Scene {
    /// Starts the service on `store` with `tweak` applied and empties the case's screenshot
    /// folder under `shots_root`.
    pub async fn start(
        case: String,
        store: &Store,
        tweak: fn(&mut app::Config),
        driver: &Driver,
        shots_root: &std::path::Path,
    ) -> Self {
        let app = TestApp::spawn(store, |c| {
            c.demo_sign_in = Some(true);
            tweak(c);
        })
        .await;
        let shots = shots_root.join(&case);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).expect("screenshot folder");
        Self {
            app,
            case,
            webdriver: driver.url.clone(),
            chromium: driver.chromium.clone(),
            shots,
            step: AtomicU32::new(0),
            sessions: Mutex::new(Vec::new()),
        }
    }

    /// The chromedriver URL.
    pub fn webdriver(&self) -> &str {
        &self.webdriver
    }

    /// The Chromium binary.
    pub fn chromium(&self) -> String {
        self.chromium.display().to_string()
    }

    /// A new empty Chromium profile directory (removed when the session closes).
    pub fn new_profile_dir(&self) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "browser-test-profile-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("profile directory");
        dir
    }

    /// Remembers a session so that [`Scene::close_sessions`] ends it.
    pub fn register_session(&self, client: Client, profile: PathBuf) {
        self.sessions
            .lock()
            .expect("sessions lock")
            .push((client, profile));
    }

    /// Writes `png` as `NN-[who-]step.png`, NN counting the case's screenshots.
    pub fn save_screenshot(&self, who: &str, step: &str, png: &[u8]) {
        let n = self.step.fetch_add(1, Ordering::SeqCst) + 1;
        let name = if who.is_empty() {
            format!("{n:02}-{step}.png")
        } else {
            format!("{n:02}-{who}-{step}.png")
        };
        std::fs::write(self.shots.join(name), png).expect("screenshot written");
    }

    /// Ends every session (a failed case first gets a last screenshot of each) and removes the
    /// profiles.
    pub async fn close_sessions(&self, failed: bool) {
        let sessions = std::mem::take(&mut *self.sessions.lock().expect("sessions lock"));
        for (i, (client, profile)) in sessions.into_iter().enumerate() {
            if failed {
                if let Ok(png) = client.screenshot().await {
                    self.save_screenshot(&format!("session{}", i + 1), "at-failure", &png);
                }
            }
            let _ = client.close().await;
            let _ = std::fs::remove_dir_all(profile);
        }
    }

    /// Creates a concert whose one schedule has `rows` of (row letter, seats, grade, price),
    /// seats numbered `A-1`, `A-2`, ...
    pub async fn concert(&self, title: &str, rows: &[(&str, usize, &str, i64)]) -> Show {
        let seats: Vec<Value> = rows
            .iter()
            .flat_map(|&(row, count, grade, price)| {
                (1..=count).map(move |n| {
                    json!({"number": format!("{row}-{n}"), "grade": grade, "price": price})
                })
            })
            .collect();
        let (concert_id, schedule_id, seats) = self
            .app
            .concert_with_schedule(title, "Olympic Hall", seats)
            .await;
        Show {
            concert_id,
            schedule_id,
            seats,
        }
    }

    /// Changes `concert_id`'s admission settings (`paused`, `maxActive`, `admitBatch`).
    pub async fn queue_settings(&self, concert_id: i64, patch: Value) {
        let (status, body) = self
            .app
            .admin(
                Method::PATCH,
                &format!("/api/v1/admin/concerts/{concert_id}/queue"),
                Some(patch),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// `user_id`'s reservations, read through the API.
    pub async fn reservations_of(&self, user_id: i64) -> Vec<Value> {
        let (status, body) = self.app.user(user_id).get("/api/v1/reservations").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"]
            .as_array()
            .or_else(|| body.as_array())
            .cloned()
            .unwrap_or_else(|| panic!("a list of reservations: {body}"))
    }
}
