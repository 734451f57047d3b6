//! One browser session (a headless Chromium with a fresh profile) and the few page actions the
//! cases need: wait for a view or an element, click, type, read, screenshot.

use crate::scene::Scene;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a page gets to reach an expected state.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The flags Chromium needs here (root, closed network) besides the profile directory.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--window-size=1280,1000",
    "--lang=en-US",
];

/// Is the element matched by `arguments[0]` there and rendered (not hidden, not inside a
/// hidden section)?
const IS_VISIBLE_JS: &str = "const e = document.querySelector(arguments[0]);
    return !!e && e.checkVisibility({visibilityProperty: true});";

/// What the page shows right now, for failure messages.
const DIAGNOSIS_JS: &str = "const a = document.getElementById('alert');
    return {view: document.body && document.body.dataset.view,
            alert: a && a.textContent.trim(), code: a && a.dataset.code,
            status: (document.getElementById('status') || {}).textContent};";

/// A signed-in-or-not person at a headless Chromium window on the service's page.
pub struct Browser {
    client: Client,
    scene: Arc<Scene>,
    /// Who this is in screenshot names ("" when the case has one browser).
    who: &'static str,
}

impl Browser {
    /// Starts a session with a fresh profile directory and opens the service's page.
    pub async fn open(scene: &Arc<Scene>, who: &'static str) -> Self {
        let profile = scene.new_profile_dir();
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".to_owned(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({"binary": scene.chromium(), "args": args}),
        );
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        let client = builder
            .connect(scene.webdriver())
            .await
            .expect("chromedriver starts a Chromium session");
        scene.register_session(client.clone(), profile);
        client
            .goto(&format!("{}/", scene.app.base))
            .await
            .expect("the page loads");
        Self {
            client,
            scene: Arc::clone(scene),
            who,
        }
    }

    /// Runs `script` in the page with `args` and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("{} script failed: {e}\n{script}", self.name()))
    }

    /// Polls `script` (with `args`) until it returns something other than null/false, and
    /// returns that; panics with what the page shows after [`PATIENCE`].
    pub async fn until(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let value = self.js(script, args.clone()).await;
            if !(value.is_null() || value == Value::Bool(false)) {
                return value;
            }
            if Instant::now() >= deadline {
                let seen = self.js(DIAGNOSIS_JS, vec![]).await;
                panic!(
                    "{}: {what} never happened; the page shows {seen}",
                    self.name()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the page shows `view` (`body[data-view]`).
    pub async fn wait_view(&self, view: &str) {
        self.until(
            &format!("view {view}"),
            "return document.body && document.body.dataset.view === arguments[0];",
            vec![json!(view)],
        )
        .await;
    }

    /// Waits until the element `css` is rendered.
    pub async fn wait_visible(&self, css: &str) {
        self.until(&format!("{css} visible"), IS_VISIBLE_JS, vec![json!(css)])
            .await;
    }

    /// Whether the element `css` is rendered now.
    pub async fn is_visible(&self, css: &str) -> bool {
        self.js(IS_VISIBLE_JS, vec![json!(css)]).await == Value::Bool(true)
    }

    /// Waits until the digits of `css`'s text (grouping and currency ignored) read `n`.
    pub async fn wait_number(&self, css: &str, n: i64) {
        self.until(
            &format!("{css} reading {n}"),
            "const e = document.querySelector(arguments[0]);
             return !!e && e.textContent.replace(/[^0-9-]/g, '') === String(arguments[1]);",
            vec![json!(css), json!(n)],
        )
        .await;
    }

    /// Waits until attribute `name` of `css` is `value`.
    pub async fn wait_attr(&self, css: &str, name: &str, value: &str) {
        self.until(
            &format!("{css}[{name}={value:?}]"),
            "const e = document.querySelector(arguments[0]);
             return !!e && e.getAttribute(arguments[1]) === arguments[2];",
            vec![json!(css), json!(name), json!(value)],
        )
        .await;
    }

    /// The trimmed text of `css` (panics when absent).
    pub async fn text(&self, css: &str) -> String {
        let text = self
            .element(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("{}: text of {css}: {e}", self.name()));
        text.trim().to_owned()
    }

    /// Attribute `name` of `css`, if set (panics when the element is absent).
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.element(css)
            .await
            .attr(name)
            .await
            .unwrap_or_else(|e| panic!("{}: attribute {name} of {css}: {e}", self.name()))
    }

    /// How many elements match `css`.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |all| all.len())
    }

    /// Waits until `css` is rendered and enabled, then clicks it as a person would.
    pub async fn click(&self, css: &str) {
        self.until(
            &format!("{css} clickable"),
            "const e = document.querySelector(arguments[0]);
             return !!e && e.checkVisibility({visibilityProperty: true}) && !e.disabled;",
            vec![json!(css)],
        )
        .await;
        self.element(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("{}: click {css}: {e}", self.name()));
    }

    /// Replaces the value of the input `css` by typing `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        self.wait_visible(css).await;
        let input = self.element(css).await;
        input
            .clear()
            .await
            .unwrap_or_else(|e| panic!("{}: clear {css}: {e}", self.name()));
        input
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("{}: type into {css}: {e}", self.name()));
    }

    /// Presses and releases `key` on the keyboard (into whatever has focus).
    pub async fn press(&self, key: Key) {
        self.press_char(key.into()).await;
    }

    /// Types `text` on the keyboard, one key at a time, into whatever has focus.
    pub async fn type_keys(&self, text: &str) {
        for c in text.chars() {
            self.press_char(c).await;
        }
    }

    /// Presses Tab until `css` has focus (it must be in the tab order), at most 60 times.
    pub async fn tab_to(&self, css: &str) {
        let focused = "const e = document.activeElement;
            return !!e && e !== document.body && e.matches(arguments[0]);";
        for _ in 0..60 {
            if self.js(focused, vec![json!(css)]).await == Value::Bool(true) {
                return;
            }
            self.press(Key::Tab).await;
        }
        let seen = self
            .js(
                "const e = document.activeElement; return e && e.outerHTML.slice(0, 120);",
                vec![],
            )
            .await;
        panic!(
            "{}: Tab never reached {css}; focus is on {seen}",
            self.name()
        );
    }

    async fn press_char(&self, value: char) {
        let keys = KeyActions::new("keyboard".to_owned())
            .then(KeyAction::Down { value })
            .then(KeyAction::Up { value });
        self.client
            .perform_actions(keys)
            .await
            .unwrap_or_else(|e| panic!("{}: key {value:?}: {e}", self.name()));
    }

    /// Saves a screenshot of the window as the case's next numbered step.
    pub async fn shot(&self, step: &str) {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("{}: screenshot {step}: {e}", self.name()));
        self.scene.save_screenshot(self.who, step, &png);
    }

    /// Signs in as demo user `user_id` and waits for the concerts.
    pub async fn sign_in(&self, user_id: i64) {
        self.wait_view("signin").await;
        self.fill("#user-id", &user_id.to_string()).await;
        self.click("#signin-button").await;
        self.wait_view("concerts").await;
    }

    /// From the concerts, enters `concert_id` (admission is open) and opens `schedule_id`'s
    /// seat map.
    pub async fn open_seat_map(&self, concert_id: i64, schedule_id: i64) {
        self.click(&format!("#concert-{concert_id}")).await;
        self.wait_view("dates").await;
        self.click(&format!("#date-{schedule_id}")).await;
        self.wait_view("seats").await;
        self.wait_visible("#seat-map").await;
    }

    /// Selects seat `seat_id` on the map and waits until it shows as selected.
    pub async fn select_seat(&self, seat_id: i64) {
        let seat = format!("#seat-{seat_id}");
        self.click(&seat).await;
        self.wait_attr(&seat, "aria-pressed", "true").await;
    }

    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{}: find {css}: {e}", self.name()))
    }

    fn name(&self) -> String {
        let who = if self.who.is_empty() {
            "page"
        } else {
            self.who
        };
        format!("{} ({who})", self.scene.case)
    }
}
