//! The harness: a static server for `dist/` (that a test can stop, to go
//! offline, and start again with another build), Chromium through
//! chromedriver, waits on the page's run status and measurement,
//! screenshots.

pub use std::path::PathBuf;
pub use std::time::{Duration, Instant};

pub use fantoccini::elements::Element;
pub use fantoccini::key::Key;
pub use fantoccini::wd::WebDriverCompatibleCommand;
pub use fantoccini::{Client, ClientBuilder, Locator};
pub use serde_json::{Value, json};
pub use tokio::io::{AsyncReadExt, AsyncWriteExt};
pub use tokio::net::TcpListener;

pub const WAIT: Duration = Duration::from_secs(60);

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a static host answers for `path` (query and fragment already cut
/// off) in `dist`: the file and its status. Like GitHub Pages, an unknown
/// path gets `404.html` with status 404 — no silent fallback to
/// `index.html`; the app's copy there boots the router (deep links).
pub fn resolve(dist: &std::path::Path, path: &str) -> (PathBuf, u16) {
    let path = path.trim_start_matches('/');
    if path.is_empty() {
        return (dist.join("index.html"), 200);
    }
    let file = dist.join(path);
    if !path.contains("..") && file.is_file() {
        (file, 200)
    } else {
        (dist.join("404.html"), 404)
    }
}

/// Serves `dist` over HTTP/1.1 on `addr` (`127.0.0.1:0`: an ephemeral
/// port), as a static host does (see [`resolve`]): the base URL and the
/// server's task — abort it to take the site offline.
pub async fn serve_on(addr: &str, dist: PathBuf) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("bind the static server on {addr}: {e}"));
    let addr = listener.local_addr().expect("server address");
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                continue;
            };
            let dist = dist.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                let Ok(len) = socket.read(&mut buf).await else {
                    return;
                };
                let request = String::from_utf8_lossy(&buf[..len]);
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let path = path.split(['?', '#']).next().unwrap_or("/");
                let (file, status) = resolve(&dist, path);
                let body = tokio::fs::read(&file).await.unwrap_or_default();
                let mime = match file.extension().and_then(|e| e.to_str()) {
                    Some("html") => "text/html; charset=utf-8",
                    Some("js") => "text/javascript",
                    Some("wasm") => "application/wasm",
                    Some("css") => "text/css",
                    Some("svg") => "image/svg+xml",
                    Some("json") => "application/json",
                    Some("webmanifest") => "application/manifest+json",
                    Some("png") => "image/png",
                    _ => "application/octet-stream",
                };
                let reason = if status == 200 { "OK" } else { "Not Found" };
                let head = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    (format!("http://{addr}"), task)
}

/// A plain GET of `path` from the static server: the status code and the body.
pub async fn http_get(base: &str, path: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the static server");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.expect("read");
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// chromedriver's log endpoint (`POST /session/{id}/se/log`), for console errors.
#[derive(Debug)]
pub struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

pub struct Browser {
    pub client: Client,
    pub base: String,
    driver: tokio::process::Child,
    server: Option<tokio::task::JoinHandle<()>>,
    /// Chromium's profile folder, removed by [`Browser::close`].
    profile: PathBuf,
    /// Where Chromium saves downloads (the page's exports).
    pub downloads: PathBuf,
}

impl Browser {
    pub async fn open(webgpu: bool) -> Browser {
        let dist = root().join("dist");
        assert!(
            dist.join("index.html").is_file(),
            "dist/index.html is missing: run `trunk build --release` first (scripts/test does)"
        );
        Browser::open_serving(webgpu, dist).await
    }

    /// A browser on a static server of `dist` (a copy of the site, altered
    /// by a test).
    pub async fn open_serving(webgpu: bool, dist: PathBuf) -> Browser {
        let (base, server) = serve_on("127.0.0.1:0", dist).await;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("port").port()
        };
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver (apt-get install chromium-driver)");
        let profile =
            std::env::temp_dir().join(format!("flt-chromium-{}-{port}", std::process::id()));
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1360,1500".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        if webgpu {
            args.extend([
                "--enable-unsafe-webgpu".into(),
                "--enable-features=Vulkan".into(),
                "--use-webgpu-adapter=swiftshader".into(),
            ]);
        }
        let downloads = profile.join("downloads");
        let _ = std::fs::remove_dir_all(&downloads);
        std::fs::create_dir_all(&downloads).expect("the downloads folder");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": args,
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                    "profile.default_content_setting_values.automatic_downloads": 1
                }
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::native()
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) if started.elapsed() < Duration::from_secs(30) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot start a WebDriver session: {e}"),
            }
        };
        Browser {
            client,
            base,
            driver,
            server: Some(server),
            profile,
            downloads,
        }
    }

    /// Takes the site offline: the static server stops, and its port
    /// refuses connections (checked).
    pub async fn stop_server(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
        let addr = self.base.trim_start_matches("http://").to_string();
        assert!(
            tokio::net::TcpStream::connect(&addr).await.is_err(),
            "the server at {addr} still answers"
        );
    }

    /// Serves `dist` again on the same address (the same origin, so the
    /// page's service worker and caches stay): a new deploy when `dist`
    /// differs from the first.
    pub async fn serve_again(&mut self, dist: PathBuf) {
        self.stop_server().await;
        let addr = self.base.trim_start_matches("http://").to_string();
        let (base, server) = serve_on(&addr, dist).await;
        assert_eq!(base, self.base);
        self.server = Some(server);
    }

    /// Opens `/` with `query` (`?method=…`): the old links.
    pub async fn goto(&self, query: &str) {
        self.goto_path(&format!("/{query}")).await;
    }

    /// Opens `path` (with its query) as a typed address or a bookmark does.
    pub async fn goto_path(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("navigate");
    }

    pub async fn testid(&self, id: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(&format!("[data-testid='{id}']")))
            .await
            .unwrap_or_else(|e| panic!("no element data-testid={id}: {e}"))
    }

    /// Waits until the run status is `done` and the measurement satisfies `ok`.
    pub async fn measurement(&self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        self.measurement_of("run-status", "measurement", what, ok)
            .await
    }

    /// Waits until the status line `status_id` says `done` and the JSON in
    /// `measurement_id` satisfies `ok` (a lab's section with its own run).
    pub async fn measurement_of(
        &self,
        status_id: &str,
        measurement_id: &str,
        what: &str,
        ok: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            let status = self.testid(status_id).await;
            let state = status
                .attr("data-state")
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            if state == "error" {
                let text = status.text().await.unwrap_or_default();
                panic!("the run failed while waiting for {what}: {text}");
            }
            if state == "done" {
                let text = self
                    .testid(measurement_id)
                    .await
                    .text()
                    .await
                    .unwrap_or_default();
                if let Ok(m) = serde_json::from_str::<Value>(&text)
                    && ok(&m)
                {
                    return m;
                }
            }
            if started.elapsed() > WAIT {
                self.screenshot("timeout.png").await;
                let text = self
                    .testid(measurement_id)
                    .await
                    .text()
                    .await
                    .unwrap_or_default();
                let url = self
                    .client
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                panic!(
                    "timed out waiting for {what} (state {state}, url {url}); last measurement: {text}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the text of the element with `data-testid` `id`
    /// satisfies `ok` and returns it: for content the page renders after an
    /// event it dispatches later (a `<details>`'s `toggle` fires as a task
    /// after the click that opened it).
    pub async fn text_once(&self, id: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let text = self.testid(id).await.text().await.unwrap_or_default();
            if ok(&text) {
                return text;
            }
            if started.elapsed() > WAIT {
                self.screenshot("timeout.png").await;
                panic!("timed out waiting for {what} in {id}; last text: {text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types into a number field and commits with Tab (a real `change` event).
    pub async fn type_number(&self, id: &str, value: &str) {
        let field = self.testid(id).await;
        field.clear().await.expect("clear");
        field
            .send_keys(&format!("{value}{}", char::from(Key::Tab)))
            .await
            .expect("type");
    }

    /// Severe console entries (errors, uncaught exceptions) since the last call.
    pub async fn console_errors(&self) -> Vec<String> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("read the browser log");
        log.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Console errors since the last call, except the static host's 404
    /// status for a deep-linked document (a route such as
    /// `/compression/quantization?…`, answered with `404.html` as GitHub
    /// Pages does): that one is expected. A missing asset (a path with a
    /// file extension) still counts.
    pub async fn console_errors_beyond_deep_links(&self) -> Vec<String> {
        let base = self.base.clone();
        self.console_errors()
            .await
            .into_iter()
            .filter(|e| {
                let document = e.strip_prefix(&base).is_some_and(|rest| {
                    let path = rest.split(['?', ' ']).next().unwrap_or_default();
                    !path.rsplit('/').next().unwrap_or_default().contains('.')
                });
                !(document && e.ends_with("the server responded with a status of 404 (Not Found)"))
            })
            .collect()
    }

    /// Whether the heatmap canvas is painted: drawn, and with many distinct
    /// colours in the middle of its cell area.
    pub async fn heatmap_painted(&self) -> bool {
        self.canvas_painted("heatmap").await
    }

    /// Whether the canvas `id` is painted: drawn (`data-painted`), and with
    /// many distinct colours in the middle of it.
    pub async fn canvas_painted(&self, id: &str) -> bool {
        let canvas = self.testid(id).await;
        if canvas.attr("data-painted").await.ok().flatten().as_deref() != Some("true") {
            return false;
        }
        let colours = self
            .client
            .execute(
                "const c = document.querySelector(`[data-testid='${arguments[0]}']`);
                 const d = c.getContext('2d').getImageData(120, 120, 300, 300).data;
                 const seen = new Set();
                 for (let i = 0; i < d.length; i += 4 * 7) seen.add((d[i] << 16) | (d[i+1] << 8) | d[i+2]);
                 return seen.size;",
                vec![json!(id)],
            )
            .await
            .expect("read canvas pixels");
        colours.as_u64().unwrap_or(0) > 8
    }

    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = root().join("target").join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        std::fs::write(dir.join(name), png).expect("write screenshot");
    }

    /// A screenshot of the element `id` alone.
    pub async fn element_screenshot(&self, id: &str, name: &str) {
        let png = self
            .testid(id)
            .await
            .screenshot()
            .await
            .expect("element screenshot");
        let dir = root().join("target").join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        std::fs::write(dir.join(name), png).expect("write screenshot");
    }

    /// The bytes of the download `name`, once Chromium has finished
    /// saving it (no `.crdownload` beside it), then removed.
    pub async fn download(&self, name: &str) -> Vec<u8> {
        let path = self.downloads.join(name);
        let partial = self.downloads.join(format!("{name}.crdownload"));
        let started = Instant::now();
        loop {
            if path.is_file() && !partial.exists() {
                let bytes = std::fs::read(&path).expect("read the download");
                if !bytes.is_empty() {
                    let _ = std::fs::remove_file(&path);
                    return bytes;
                }
            }
            if started.elapsed() > Duration::from_secs(30) {
                let seen: Vec<String> = std::fs::read_dir(&self.downloads)
                    .map(|d| {
                        d.filter_map(|e| e.ok())
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                panic!("no download {name}; the folder holds {seen:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
        if let Some(server) = self.server.take() {
            server.abort();
        }
        // The profile (and its downloads) is this test's alone; a test that
        // failed before closing leaves it for a look.
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

pub fn number(m: &Value, key: &str) -> f64 {
    m[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {m}"))
}

/// The page's numbers for the same settings as a native run of the library.
pub fn native_cpu(query: &str) -> Value {
    use flt_explorer::pipeline::attention::run;
    use flt_explorer::pipeline::{Backend, Quiet};
    let (settings, issues) = flt_explorer::settings::Settings::from_query(query);
    assert!(issues.is_empty(), "{issues:?}");
    let problem = settings.problem(flt_explorer::gpu::GpuRunOptions {
        repeats: 1,
        ..Default::default()
    });
    let report = pollster::block_on(run(&problem, &Backend::Cpu { reason: None }, &Quiet))
        .expect("native CPU run");
    serde_json::to_value(&report).expect("json")
}

/// Clicks the element with `data-testid` `id` (panics naming it if it fails).
pub async fn click(b: &Browser, id: &str) {
    b.testid(id)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {id}: {e}"));
}
