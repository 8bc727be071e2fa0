//! Real headless Chromium through chromedriver, driven over the W3C
//! WebDriver protocol with a small client of our own (the `fantoccini`
//! crate would bring a second copy of http, cookie, thiserror and ICU
//! into the dependency tree for the same dozen calls).
//!
//! [`Browser::start`] starts chromedriver on a free port with a fresh
//! profile; it returns `None` (the test is skipped, or fails under
//! `CI=true`) when Chromium or chromedriver is not installed.
//!
//! One browser runs at a time in the test binary: several Chromiums beside
//! the rest of the suite on a 2-core machine are the suspected cause (not
//! reproduced) of a CI run that failed on a WebDriver command (its message
//! was cut from the record). A session that did not start, and a command that only reads
//! or navigates when chromedriver reports a timeout, are asked again; a
//! failure quotes the end of chromedriver's log.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    base: String,
    session: String,
    driver: std::process::Child,
    log: PathBuf,
    _profile: tempfile::TempDir,
    // Dropped after `Drop::drop` has ended the session and the driver.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// Held by the one browser that runs at a time.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Tries per command that is safe to ask again.
const TRIES: u32 = 3;

/// An element found on the page.
#[derive(Debug, Clone)]
pub struct El(String);

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    for name in names {
        for dir in path.split(':').chain(["/usr/bin", "/usr/lib/chromium"]) {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

impl Browser {
    pub async fn start() -> Option<Browser> {
        let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"]);
        let driver = find_program(&["chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            super::missing("Chromium or chromedriver is not installed (Debian: apt-get install chromium chromium-driver), so the browser test");
            return None;
        };
        let turn = TURN.lock().await;
        let profile = tempfile::tempdir().unwrap();
        let log = profile.path().join("chromedriver.log");
        let port = super::free_port();
        let child = std::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        super::wait_for(20, "chromedriver to answer", || async {
            let r = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
            r.is_ok().then_some(())
        })
        .await;
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!(
            "--user-data-dir={}",
            profile.path().join("chromium").display()
        )])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium.to_string_lossy(), "args": args}
        }}});
        let mut b = Browser {
            base,
            session: String::new(),
            driver: child,
            log,
            _profile: profile,
            _turn: turn,
        };
        let v = b.call("POST", "/session", caps).await;
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver made no session: {v}"))
            .to_string();
        Some(b)
    }

    /// Sends one command; a failure panics with chromedriver's error and
    /// the end of its log.
    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let mut tries = 1;
        loop {
            match self.try_call(method, path, body.clone()).await {
                Ok(v) => return v,
                Err(e) if tries < TRIES && worth_asking_again(method, path, &e) => {
                    eprintln!("WebDriver {method} {path} failed ({e}); asking again");
                    tries += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => panic!(
                    "WebDriver {method} {path} failed (try {tries}): {e}\nchromedriver's log ends:\n{}",
                    self.log_tail(30)
                ),
            }
        }
    }

    /// The reply's `value`, or its error value (with the HTTP status when
    /// the reply is not chromedriver's JSON).
    async fn try_call(&self, method: &str, path: &str, body: Value) -> Result<Value, Value> {
        let url = format!("{}{path}", self.base);
        let text = if method == "GET" || method == "DELETE" {
            String::new()
        } else {
            body.to_string()
        };
        let r =
            super::web::request(method, &url, &[("Content-Type", "application/json")], &text).await;
        let Ok(v) = serde_json::from_str::<Value>(&r.body) else {
            return Err(json!({"error": format!("HTTP {}", r.status), "message": r.body}));
        };
        if r.status >= 400 {
            Err(v["value"].clone())
        } else {
            Ok(v["value"].clone())
        }
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub async fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), json!({ "url": url }))
            .await;
    }

    pub async fn url(&self) -> String {
        self.call("GET", &self.s("/url"), Value::Null)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub async fn source(&self) -> String {
        self.call("GET", &self.s("/source"), Value::Null)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The first element matching `css`, waiting up to 10 s for it.
    pub async fn find(&self, css: &str) -> El {
        let body = json!({"using": "css selector", "value": css});
        let path = self.s("/element");
        super::wait_for(10, &format!("an element {css}"), || async {
            self.try_call("POST", &path, body.clone())
                .await
                .ok()
                .and_then(|v| v[ELEMENT].as_str().map(|id| El(id.to_string())))
        })
        .await
    }

    /// Whether an element matching `css` is on the page now.
    pub async fn has(&self, css: &str) -> bool {
        let body = json!({"using": "css selector", "value": css});
        match self.try_call("POST", &self.s("/elements"), body).await {
            Ok(Value::Array(a)) => !a.is_empty(),
            _ => false,
        }
    }

    /// Waits until an element matching `css` is on the page.
    pub async fn wait_for(&self, css: &str) {
        super::wait_for(10, &format!("{css} on the page"), || async {
            self.has(css).await.then_some(())
        })
        .await;
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.call(
            "POST",
            &self.s(&format!("/element/{}/click", el.0)),
            json!({}),
        )
        .await;
    }

    /// Replaces a field's text with `text` (a file path, for file inputs).
    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        let _ = self
            .try_call(
                "POST",
                &self.s(&format!("/element/{}/clear", el.0)),
                json!({}),
            )
            .await;
        self.call(
            "POST",
            &self.s(&format!("/element/{}/value", el.0)),
            json!({ "text": text }),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let el = self.find(css).await;
        self.call(
            "GET",
            &self.s(&format!("/element/{}/text", el.0)),
            Value::Null,
        )
        .await
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// Runs `script` in the page; a timeout asks again, so scripts run
    /// here only read.
    pub async fn run(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Sets the page's viewport to `width` CSS pixels (a phone at 375).
    pub async fn viewport(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &self.s("/goog/cdp/execute"),
            json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600
            }}),
        )
        .await;
    }

    /// Saves the page as `target/screenshots/<name>-<width>.png` at phone
    /// and laptop widths (full page height).
    pub async fn screenshots(&self, name: &str) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        for (w, h) in [(375u32, 812u32), (1280, 900)] {
            self.viewport(w, h).await;
            let full = self
                .run("return Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0);")
                .await
                .as_u64()
                .unwrap_or(h as u64)
                .clamp(h as u64, 6000) as u32;
            self.viewport(w, full).await;
            tokio::time::sleep(Duration::from_millis(150)).await;
            let png = self
                .call("GET", &self.s("/screenshot"), Value::Null)
                .await
                .as_str()
                .unwrap_or("")
                .to_string();
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(png)
                .unwrap();
            std::fs::write(dir.join(format!("{name}-{w}.png")), bytes).unwrap();
        }
        self.viewport(1280, 900).await;
    }

    /// (document width, viewport width) at `width`: more document than
    /// viewport means the page scrolls sideways.
    pub async fn widths_at(&self, width: u32) -> (u64, u64) {
        self.viewport(width, 800).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let v = self
            .run("return [document.documentElement.scrollWidth, window.innerWidth];")
            .await;
        (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0))
    }

    /// Images that did not load.
    pub async fn broken_images(&self) -> u64 {
        self.run("return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length;")
            .await
            .as_u64()
            .unwrap_or(0)
    }
}

/// Whether a failed command is asked again: a session Chromium failed to
/// start (a cold start on a loaded machine can outlast chromedriver's
/// wait), or chromedriver's "timeout" (the renderer did not answer in
/// time) on a command that a second try cannot do twice: reads,
/// navigations to a URL, viewport changes and the read-only scripts these
/// tests run. A click could submit a form twice, so it is not asked again.
fn worth_asking_again(method: &str, path: &str, e: &Value) -> bool {
    if method == "POST" && path == "/session" {
        return e["error"].as_str() == Some("session not created");
    }
    let timeout = e["error"].as_str() == Some("timeout")
        || e["message"]
            .as_str()
            .is_some_and(|m| m.contains("Timed out receiving message from renderer"));
    let repeatable = method == "GET"
        || [
            "/url",
            "/goog/cdp/execute",
            "/execute/sync",
            "/elements",
            "/element",
        ]
        .iter()
        .any(|end| path.ends_with(end));
    timeout && repeatable
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes Chromium; then the driver goes.
        use std::io::{Read, Write};
        let addr = self.base.trim_start_matches("http://").to_string();
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let req = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                self.session
            );
            let _ = s.write_all(req.as_bytes());
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
