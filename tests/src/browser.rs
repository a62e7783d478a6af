//! A real browser for end-to-end tests of web pages: Debian's headless
//! Chromium (`/usr/bin/chromium`), driven over WebDriver through Debian's
//! `chromedriver` with the [`fantoccini`] crate.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use cognate_tests::browser;
//!
//! if !browser::available() {
//!     cognate_tests::skip("chromium or chromedriver is not installed");
//!     return Ok(());
//! }
//! let browser = browser::start().await?;
//! browser.goto("http://127.0.0.1:8080/console/").await?;
//! browser.fill("input[name=username]", "alice").await?;
//! browser.click("button[type=submit]").await?;
//! assert_eq!(browser.text_of("h1").await?, "Identity pools");
//! let png = browser.screenshot("console-pools").await?; // target/screenshots/console-pools.png
//! browser.close().await?;
//! # let _ = png; Ok(()) }
//! ```
//!
//! - Each [`start`] runs its own `chromedriver --port=<free port>` (tried
//!   again on another port when the port was taken) and opens one session:
//!   a fresh Chromium with a fresh profile in a temporary directory,
//!   1280×900, headless, and none of the browser's own traffic to Google's
//!   services (background networking, component updates, sync), whose
//!   connections a closed network refuses. Starting takes about a second.
//! - The helpers ([`Browser::text_of`], [`Browser::click`], ...) take CSS
//!   selectors and wait up to [`Browser::timeout`] ([`WAIT`], 10 s, unless
//!   set) for the element to appear; their errors say where the browser was
//!   and what the page said. The full WebDriver API is the
//!   [`fantoccini::Client`] in [`Browser::client`] (also reached through
//!   `Deref`).
//! - Nothing outlives the test: [`Browser::close`] ends the session (and
//!   with it Chromium); dropping the [`Browser`] kills chromedriver's
//!   process group (chromedriver, Chromium and its helper processes) and
//!   removes the profile; should the test process die first, a watchdog
//!   (`sh`, waiting for its stdin, a pipe held here, to close) kills the
//!   group.
//! - Screenshots go to `<workspace>/target/screenshots/<name>.png`, to look
//!   at after the run.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use fantoccini::elements::Element;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Map, Value};

/// Debian's Chromium (package `chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver (package `chromium-driver`), of the same version.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long the helpers wait for an element, a text or a URL, unless
/// [`Browser::timeout`] says otherwise.
pub const WAIT: Duration = Duration::from_secs(10);

/// How long chromedriver may take to listen, how long the session (that
/// is, Chromium) may take to start, and how many chromedriver starts to try.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(20);
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);
const START_ATTEMPTS: usize = 3;
/// Chromium's page load and script timeouts (WebDriver's default is 300 s).
const PAGE_LOAD_TIMEOUT: Duration = Duration::from_secs(30);
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of the page's text an error message quotes.
const QUOTED_TEXT: usize = 1500;

/// Whether Chromium and chromedriver can be run (the tests that need them
/// skip, with a note, where they cannot).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        [CHROMIUM, CHROMEDRIVER].iter().all(|program| {
            Command::new(program)
                .arg("--version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    })
}

/// `<workspace>/target/screenshots`, where [`Browser::screenshot`] saves.
pub fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new(env!("CARGO_MANIFEST_DIR")))
        .join("target/screenshots")
}

/// A running chromedriver (in a process group of its own, with the
/// Chromium it starts) and its watchdog; dropping it kills the group.
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
    watchdog: Child,
    /// The watchdog's stdin: when it closes, the watchdog kills the group.
    watchdog_stdin: Option<ChildStdin>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Closing the watchdog's stdin has it kill chromedriver's process
        // group; waiting for it makes that done when we return.
        drop(self.watchdog_stdin.take());
        let _ = self.watchdog.wait();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn log(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 40)
    }
}

/// A Chromium session; see the module docs. Ends (and kills chromedriver
/// and Chromium) when dropped; [`Browser::close`] ends it cleanly.
pub struct Browser {
    /// The WebDriver client, for everything the helpers do not cover.
    pub client: Client,
    /// How long the helpers wait for an element, a text or a URL
    /// ([`WAIT`] to begin with).
    pub timeout: Duration,
    // Dropped in this order: the driver's processes go before the profile.
    driver: Driver,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("chromedriver_port", &self.driver.port)
            .field("chromedriver_pid", &self.driver.child.id())
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl Deref for Browser {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Start chromedriver and a Chromium session.
pub async fn start() -> Result<Browser> {
    if !available() {
        bail!(
            "{CHROMIUM} or {CHROMEDRIVER} cannot be run: the browser tests drive them \
             (apt-get install chromium chromium-driver)"
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("cognate-browser-")
        .tempdir()
        .context("creating the browser's temporary directory")?;
    let mut failures = Vec::new();
    let mut driver = None;
    for attempt in 1..=START_ATTEMPTS {
        match spawn_driver(dir.path(), attempt).await {
            Ok(started) => {
                driver = Some(started);
                break;
            }
            Err(e) if e.is::<PortTaken>() => failures.push(format!("{e:#}")),
            Err(e) => return Err(e),
        }
    }
    let Some(driver) = driver else {
        bail!(
            "could not start chromedriver in {START_ATTEMPTS} attempts:\n{}",
            failures.join("\n")
        );
    };
    for failure in &failures {
        eprintln!("chromedriver started after a failed attempt: {failure}");
    }

    let profile = dir.path().join("profile");
    let mut capabilities = Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let url = format!("http://127.0.0.1:{}", driver.port);
    // Plain HTTP to chromedriver on loopback: no TLS, hence no need for
    // the system's CA certificates (ClientBuilder::rustls wants them).
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let session = tokio::time::timeout(
        SESSION_TIMEOUT,
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&url),
    )
    .await;
    let client = match session {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => bail!(
            "chromedriver could not start {CHROMIUM}: {e}\nchromedriver's output:\n{}",
            driver.log()
        ),
        Err(_) => bail!(
            "{CHROMIUM} did not start within {SESSION_TIMEOUT:?}\nchromedriver's output:\n{}",
            driver.log()
        ),
    };
    client
        .update_timeouts(TimeoutConfiguration::new(
            Some(SCRIPT_TIMEOUT),
            Some(PAGE_LOAD_TIMEOUT),
            Some(Duration::ZERO),
        ))
        .await
        .context("setting the session's timeouts")?;
    Ok(Browser {
        client,
        timeout: WAIT,
        driver,
        dir,
    })
}

/// chromedriver could not listen on the port it was given (tried again).
#[derive(Debug)]
struct PortTaken(String);

impl std::fmt::Display for PortTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PortTaken {}

async fn spawn_driver(dir: &Path, attempt: usize) -> Result<Driver> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("probing a free port")?
        .port();
    let log = dir.join(format!("chromedriver-{attempt}.log"));
    let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let child = {
        use std::os::unix::process::CommandExt as _;
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            // Its own group, with the Chromium it starts: killed as one, and
            // out of reach of a terminal's Ctrl-C (the watchdog handles that).
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {CHROMEDRIVER}"))?
    };
    let pid = child.id();
    let watchdog = {
        use std::os::unix::process::CommandExt as _;
        Command::new("sh")
            .arg("-c")
            .arg(r#"while read -r _; do :; done; kill -s KILL -- "-$1" 2>/dev/null; exit 0"#)
            .arg("cognate-browser-watchdog")
            .arg(pid.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
    };
    let mut watchdog = match watchdog {
        Ok(watchdog) => watchdog,
        Err(e) => {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
            return Err(e).context("starting the browser's watchdog (sh)");
        }
    };
    let watchdog_stdin = watchdog.stdin.take();
    let mut driver = Driver {
        child,
        port,
        log,
        watchdog,
        watchdog_stdin,
    };

    // Ours once it says it listens (a /status answer alone could come from
    // whoever else took the port), ready once /status says so.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let started = Instant::now();
    let mut listening = false;
    loop {
        if let Some(status) = driver.child.try_wait()? {
            let log = driver.log();
            if log.contains("port not available") || log.contains("Address already in use") {
                return Err(PortTaken(format!("port {port} was taken: {log}")).into());
            }
            bail!("{CHROMEDRIVER} exited ({status}) before it was ready:\n{log}");
        }
        listening = listening
            || std::fs::read_to_string(&driver.log)
                .unwrap_or_default()
                .contains("started successfully");
        if listening {
            let ready = http
                .get(format!("http://127.0.0.1:{port}/status"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if let Some(response) = ready {
                let status: Value = response.json().await.unwrap_or_default();
                if status["value"]["ready"] == true {
                    return Ok(driver);
                }
            }
        }
        if started.elapsed() > DRIVER_TIMEOUT {
            bail!(
                "{CHROMEDRIVER} was not ready on port {port} within {DRIVER_TIMEOUT:?}:\n{}",
                driver.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Browser {
    /// End the session (Chromium exits), then stop chromedriver. Dropping
    /// the browser kills both without asking.
    pub async fn close(self) -> Result<()> {
        let closed = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close())
            .await
            .map_err(|_| anyhow!("the browser did not close its session within 10 s"))?;
        closed.context("closing the browser session")
    }

    /// chromedriver's recent output.
    pub fn chromedriver_log(&self) -> String {
        self.driver.log()
    }

    /// Open `url` (waits for the page to load).
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("opening {url}"))
    }

    /// The current page's URL.
    pub async fn url(&self) -> Result<String> {
        Ok(self
            .client
            .current_url()
            .await
            .context("reading the current URL")?
            .to_string())
    }

    /// The current page's HTML (as it is now, scripts' changes included).
    pub async fn source(&self) -> Result<String> {
        self.client
            .source()
            .await
            .context("reading the page source")
    }

    /// Whether an element matches `css` now (no waiting).
    pub async fn exists(&self, css: &str) -> Result<bool> {
        let found = self
            .client
            .find_all(Locator::Css(css))
            .await
            .with_context(|| format!("looking for {css:?}"))?;
        Ok(!found.is_empty())
    }

    /// The first element that matches `css`, waiting up to
    /// [`Browser::timeout`] for it.
    pub async fn wait_for(&self, css: &str) -> Result<Element> {
        match self
            .client
            .wait()
            .at_most(self.timeout)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => Ok(element),
            Err(e) => bail!(
                "no {css:?} within {:?} ({e}) {}",
                self.timeout,
                self.whereabouts().await
            ),
        }
    }

    /// The rendered text of the first element that matches `css` (waits
    /// for it; see [`Browser::wait_for`]).
    pub async fn text_of(&self, css: &str) -> Result<String> {
        let element = self.wait_for(css).await?;
        element
            .text()
            .await
            .with_context(|| format!("reading the text of {css:?}"))
    }

    /// Wait up to [`Browser::timeout`] for the first element that matches
    /// `css` to show `text` (a substring); its whole text.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> Result<String> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let now = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if now.contains(text) {
                return Ok(now);
            }
            if Instant::now() > deadline {
                bail!(
                    "{css:?} did not show {text:?} within {:?} (it shows {now:?}) {}",
                    self.timeout,
                    self.whereabouts().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait up to [`Browser::timeout`] for the current URL to contain
    /// `part`; the URL.
    pub async fn wait_for_url(&self, part: &str) -> Result<String> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let url = self.url().await?;
            if url.contains(part) {
                return Ok(url);
            }
            if Instant::now() > deadline {
                bail!(
                    "the URL did not come to contain {part:?} within {:?} {}",
                    self.timeout,
                    self.whereabouts().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Click the first element that matches `css` (waits for it). A click
    /// that navigates returns once the new page has loaded.
    pub async fn click(&self, css: &str) -> Result<()> {
        let element = self.wait_for(css).await?;
        if let Err(e) = element.click().await {
            bail!("clicking {css:?}: {e} {}", self.whereabouts().await);
        }
        Ok(())
    }

    /// Type `value` into the first input that matches `css` (waits for
    /// it), replacing what it held.
    pub async fn fill(&self, css: &str, value: &str) -> Result<()> {
        let element = self.wait_for(css).await?;
        element
            .clear()
            .await
            .with_context(|| format!("clearing {css:?}"))?;
        element
            .send_keys(value)
            .await
            .with_context(|| format!("typing into {css:?}"))
    }

    /// Submit the first form that matches `css` (waits for it) as a user
    /// would: click its submit button, or, having none, `requestSubmit()`
    /// (which runs its validation and `submit` handlers too).
    pub async fn submit_form(&self, css: &str) -> Result<()> {
        let form = self.wait_for(css).await?;
        let buttons = form
            .find_all(Locator::Css(
                "button[type=submit], input[type=submit], button:not([type])",
            ))
            .await
            .with_context(|| format!("looking for the submit button of {css:?}"))?;
        let submitted = match buttons.first() {
            Some(button) => button.click().await,
            None => {
                let form = serde_json::to_value(&form)?;
                self.client
                    .execute("arguments[0].requestSubmit();", vec![form])
                    .await
                    .map(drop)
            }
        };
        if let Err(e) = submitted {
            bail!("submitting {css:?}: {e} {}", self.whereabouts().await);
        }
        Ok(())
    }

    /// Save a PNG of the window as `<workspace>/target/screenshots/<name>.png`
    /// (characters other than letters, digits, `-`, `_` and `.` in `name`
    /// become `_`); its path.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self
            .client
            .screenshot()
            .await
            .context("taking a screenshot")?;
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// "at <url>; the page says: <text>", for error messages.
    async fn whereabouts(&self) -> String {
        let url = self.url().await.unwrap_or_else(|e| format!("? ({e:#})"));
        let text = match self
            .client
            .execute(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await
        {
            Ok(Value::String(text)) => text,
            Ok(other) => other.to_string(),
            Err(e) => format!("? ({e})"),
        };
        let mut quoted: String = text.chars().take(QUOTED_TEXT).collect();
        if quoted.len() < text.len() {
            quoted.push_str(" [...]");
        }
        format!("at {url}; the page says:\n{quoted}")
    }
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// A request to [`serve`]: method, target (path and query), body.
    struct Request {
        method: String,
        target: String,
        body: String,
    }

    type Handler =
        Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = (u16, String)> + Send>> + Send + Sync>;

    /// A tiny HTTP/1.1 server for test pages: one request per connection,
    /// answers HTML.
    fn serve(listener: TcpListener, handler: Handler) {
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                tokio::spawn(async move {
                    let _ = answer(stream, handler).await;
                });
            }
        });
    }

    async fn answer(mut stream: TcpStream, handler: Handler) -> Result<()> {
        let mut buffer = Vec::new();
        let head_end = loop {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..n]);
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let mut request_line = head.lines().next().unwrap_or("").split(' ');
        let method = request_line.next().unwrap_or("").to_owned();
        let target = request_line.next().unwrap_or("/").to_owned();
        let length: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = buffer[head_end..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        let (status, html) = handler(Request {
            method,
            target,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
        .await;
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{html}",
            html.len()
        );
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await?;
        Ok(())
    }

    /// The `name=value` pairs of a query string or form body.
    fn pairs(encoded: &str) -> std::collections::BTreeMap<String, String> {
        reqwest::Url::parse(&format!("http://x/?{encoded}"))
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default()
    }

    fn page(title: &str, body: &str) -> String {
        format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
             <style>body{{font-family:sans-serif;margin:40px}}h1{{color:#1a5fb4}}</style>\
             </head><body>{body}</body></html>"
        )
    }

    fn escape(text: &str) -> String {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    }

    #[tokio::test]
    async fn chromium_renders_a_page_and_saves_a_screenshot() {
        if !available() {
            crate::skip("chromium or chromedriver is not installed");
            return;
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        serve(
            listener,
            Arc::new(|request: Request| {
                Box::pin(async move {
                    match (request.method.as_str(), request.target.as_str()) {
                        ("GET", "/") => (
                            200,
                            page(
                                "Greeter",
                                "<h1>Greeter</h1>\
                                 <form id=\"greet\" method=\"post\" action=\"/hello\">\
                                 <label>Name <input id=\"name\" name=\"name\" value=\"nobody\"></label>\
                                 <button id=\"go\" type=\"submit\">Say hello</button></form>",
                            ),
                        ),
                        ("POST", "/hello") => {
                            let name = pairs(&request.body).remove("name").unwrap_or_default();
                            (
                                200,
                                page(
                                    "Hello",
                                    &format!("<h1 id=\"greeting\">Hello, {}!</h1>", escape(&name)),
                                ),
                            )
                        }
                        _ => (404, page("Not found", "<h1>Not found</h1>")),
                    }
                })
            }),
        );

        let started = Instant::now();
        let mut browser = start().await.unwrap();
        eprintln!("browser ready after {:?}", started.elapsed());
        browser.goto(&format!("{base}/")).await.unwrap();
        assert_eq!(browser.title().await.unwrap(), "Greeter"); // through Deref
        assert!(browser.exists("form#greet").await.unwrap());
        assert!(!browser.exists("#greeting").await.unwrap());
        browser.fill("#name", "Cognate <tester>").await.unwrap();
        browser.click("#go").await.unwrap();
        assert_eq!(
            browser.text_of("#greeting").await.unwrap(),
            "Hello, Cognate <tester>!"
        );
        assert_eq!(browser.url().await.unwrap(), format!("{base}/hello"));
        assert!(browser.source().await.unwrap().contains("id=\"greeting\""));
        let png = browser.screenshot("browser-harness").await.unwrap();
        assert_eq!(png, screenshots_dir().join("browser-harness.png"));
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.len() > 1000, "{} bytes", bytes.len());
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");

        // submit_form, and an error that says where the browser was.
        browser.goto(&format!("{base}/")).await.unwrap();
        browser.fill("#name", "again").await.unwrap();
        browser.submit_form("form#greet").await.unwrap();
        browser
            .wait_for_text("#greeting", "Hello, again!")
            .await
            .unwrap();
        browser.timeout = Duration::from_millis(500);
        let err = browser.text_of("#nowhere").await.unwrap_err();
        let message = format!("{err:#}");
        assert!(
            message.contains("/hello") && message.contains("Hello, again!"),
            "{message}"
        );
        eprintln!("screenshot: {}", png.display());
        browser.close().await.unwrap();
    }

    /// The console's sign-in, in miniature: a confidential client of the
    /// tests' OpenID provider, a real browser through the code flow and
    /// RP-initiated logout.
    #[tokio::test]
    async fn chromium_signs_in_with_a_confidential_client_of_the_oidc_provider() {
        if !available() {
            crate::skip("chromium or chromedriver is not installed");
            return;
        }
        if !crate::oidc::node_available() {
            crate::skip("node is not installed");
            return;
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let client = crate::oidc::ConfidentialClient {
            id: "console-test".into(),
            secret: "console-secret".into(),
            redirect_uri: format!("{base}/callback"),
        };
        let idp = crate::oidc::start_with(crate::oidc::OidcOptions {
            confidential_clients: vec![client.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
        let issuer = idp.issuer.clone();
        let app = client.clone();
        serve(
            listener,
            Arc::new(move |request: Request| {
                let (issuer, app) = (issuer.clone(), app.clone());
                Box::pin(async move {
                    let (path, query) = request
                        .target
                        .split_once('?')
                        .unwrap_or((request.target.as_str(), ""));
                    match path {
                        "/callback" => match redeem(&issuer, &app, &pairs(query)).await {
                            Ok(claims) => (
                                200,
                                page(
                                    "Signed in",
                                    &format!(
                                        "<p id=\"user\">{}</p><p id=\"groups\">{}</p>",
                                        escape(claims["preferred_username"].as_str().unwrap_or("")),
                                        escape(&claims["groups"].to_string()),
                                    ),
                                ),
                            ),
                            Err(e) => (
                                500,
                                page(
                                    "Error",
                                    &format!("<pre>{}</pre>", escape(&format!("{e:#}"))),
                                ),
                            ),
                        },
                        "/" => (200, page("Home", "<h1 id=\"home\">Signed out</h1>")),
                        _ => (404, page("Not found", "<h1>Not found</h1>")),
                    }
                })
            }),
        );

        let browser = start().await.unwrap();
        let authorize = reqwest::Url::parse_with_params(
            &format!("{}/auth", idp.issuer),
            &[
                ("client_id", client.id.as_str()),
                ("response_type", "code"),
                ("scope", "openid email"),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("state", "s1"),
                ("login_hint", "admin-carol"),
            ],
        )
        .unwrap();
        browser.goto(authorize.as_str()).await.unwrap();
        assert_eq!(browser.text_of("#user").await.unwrap(), "admin-carol");
        assert_eq!(
            browser.text_of("#groups").await.unwrap(),
            r#"["admins","users"]"#
        );
        browser.screenshot("browser-oidc-signed-in").await.unwrap();

        let logout = reqwest::Url::parse_with_params(
            &format!("{}/session/end", idp.issuer),
            &[
                ("client_id", client.id.as_str()),
                ("post_logout_redirect_uri", &format!("{base}/")),
            ],
        )
        .unwrap();
        browser.goto(logout.as_str()).await.unwrap();
        browser.wait_for_text("#home", "Signed out").await.unwrap();

        // Dropped without close: chromedriver's process group (chromedriver,
        // Chromium and its helpers) is gone.
        let group = browser.driver.child.id();
        assert!(!members_of(group).is_empty());
        drop(browser);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !members_of(group).is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(members_of(group), Vec::<String>::new());
    }

    /// The live (not zombie) processes of process group `group`: "pid comm".
    fn members_of(group: u32) -> Vec<String> {
        let mut members = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid pgrp ...
            let Some((head, rest)) = stat.rsplit_once(") ") else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.first() != Some(&"Z") && fields.get(2) == Some(&group.to_string().as_str()) {
                members.push(head.replace(" (", " "));
            }
        }
        members
    }

    /// The callback's work: the code for tokens (client_secret_basic), the
    /// id token's claims.
    async fn redeem(
        issuer: &str,
        client: &crate::oidc::ConfidentialClient,
        params: &std::collections::BTreeMap<String, String>,
    ) -> Result<Map<String, Value>> {
        if params.get("state").map(String::as_str) != Some("s1") {
            bail!("unexpected callback parameters {params:?}");
        }
        let code = params.get("code").context("no code")?;
        let response = reqwest::Client::new()
            .post(format!("{issuer}/token"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", client.redirect_uri.as_str()),
            ])
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("the token endpoint answered {status}: {body}");
        }
        let id_token = body["id_token"].as_str().context("no id_token")?;
        let claims = crate::oidc::claims_of(id_token)?;
        if claims["aud"] != client.id.as_str() {
            bail!("id token for another audience: {claims:?}");
        }
        Ok(claims)
    }
}
