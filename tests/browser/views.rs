//! The views for a classroom: every chart's exports download, parse and
//! hold what the page drew; axe-core finds no serious or critical
//! violation on any route, before and after results; the explorer works
//! from the keyboard alone with a visible focus; the dark theme (the
//! toggle, remembered) redraws the charts dark; a 390 px wide window
//! keeps the page within its width and the charts' text readable.
//! Screenshots for the README go to `docs/screenshots/`.

use flt_explorer::chart::heatmap::{ColourRange, ColourScale, colour};
use flt_explorer::pipeline::attention::{Measurement, run};
use flt_explorer::pipeline::{Backend, Quiet};

use super::harness::*;

/// The explorer run the export test drives (the CPU twin: the page falls
/// back to it without WebGPU).
const QUERY: &str = "method=longformer&n=96&d=8&window=8&global=1&seed=5";

/// The file stem the settings give.
const STEM: &str = "longformer_n96_w8_g1";

/// The same run natively, through the library.
fn native(query: &str) -> Measurement {
    let (settings, issues) = flt_explorer::settings::Settings::from_query(query);
    assert!(issues.is_empty(), "{issues:?}");
    let problem = settings.problem(flt_explorer::gpu::GpuRunOptions {
        repeats: 1,
        ..Default::default()
    });
    pollster::block_on(run(&problem, &Backend::Cpu { reason: None }, &Quiet)).expect("native run")
}

/// Clicks the export button `kind` (`svg`, `png`, `csv`) of the chart whose
/// canvas is `chart`.
async fn export(b: &Browser, chart: &str, kind: &str) {
    let css = format!("[data-chart='{chart}'] [data-testid='export-{kind}']");
    let button = b
        .client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    let started = Instant::now();
    while button.prop("disabled").await.ok().flatten().as_deref() == Some("true") {
        assert!(started.elapsed() < WAIT, "{css} stays disabled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    button
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// A CSV of a pooled matrix: the values, row after row.
fn grid_values(csv: &str) -> (usize, Vec<f64>) {
    let mut lines = csv.lines();
    let columns = lines.next().expect("header").split(',').count() - 1;
    let values: Vec<f64> = lines
        .flat_map(|l| l.split(',').skip(1).map(|v| v.parse::<f64>().expect(v)))
        .collect();
    (columns, values)
}

/// The PNG embedded in an SVG export (`href="data:image/png;base64,…"`).
fn embedded_png(svg: &str) -> resvg::tiny_skia::Pixmap {
    let start = svg.find("data:image/png;base64,").expect("an embedded PNG") + 22;
    let end = start + svg[start..].find('"').expect("the end of the href");
    let bytes = base64_decode(&svg[start..end]);
    resvg::tiny_skia::Pixmap::decode_png(&bytes).expect("the embedded PNG decodes")
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let n = chunk
            .iter()
            .filter(|&&c| c != b'=')
            .enumerate()
            .fold(0u32, |n, (k, &c)| n | (u32::from(value(c)) << (18 - 6 * k)));
        let bytes = chunk.iter().filter(|&&c| c != b'=').count() - 1;
        out.extend_from_slice(&n.to_be_bytes()[1..=bytes]);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn explorer_exports_download_and_hold_what_the_page_drew() {
    let b = Browser::open(false).await;
    b.goto(&format!("?{QUERY}")).await;
    b.measurement("the CPU run", |m| m["n"] == 96).await;
    assert!(b.heatmap_painted().await);
    let expected = native(QUERY);
    let map = expected.artifacts.weights().expect("a pooled map").clone();

    // CSV: every cell drawn, equal to the library's map of the same run.
    export(&b, "heatmap", "csv").await;
    let csv = String::from_utf8(b.download(&format!("{STEM}.csv")).await).unwrap();
    let (columns, values) = grid_values(&csv);
    assert_eq!(columns, map.cells);
    assert_eq!(values.len(), map.values.len());
    for (k, (page, lib)) in values.iter().zip(&map.values).enumerate() {
        let lib = f64::from(*lib);
        assert!(
            (page - lib).abs() <= 1e-6 * lib.abs().max(1e-3),
            "cell {k}: page {page}, library {lib}"
        );
    }
    // The page's text alternative holds the same numbers (block means).
    let numbers = b.testid("heatmap-numbers").await;
    numbers.click().await.expect("open the numbers");
    // The table is rendered on the `toggle` event, a task after the click.
    b.text_once("heatmap-numbers", "the block means", |t| {
        t.contains("96 × 96")
    })
    .await;

    // SVG: the same drawing; its cells are an embedded PNG whose pixels are
    // the colours of the CSV's values on the scale drawn (linear).
    export(&b, "heatmap", "svg").await;
    let svg = String::from_utf8(b.download(&format!("{STEM}.svg")).await).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("key position j"));
    assert!(svg.contains("linear: 0–max"));
    let cells = embedded_png(&svg);
    let range = ColourRange::of(&map.values, ColourScale::Linear);
    let (w, h) = (cells.width() as usize, cells.height() as usize);
    for (a, b_) in [(0usize, 0usize), (50, 50), (10, 80), (80, 10), (95, 3)] {
        let (x, y) = (
            (2 * b_ + 1) * w / (2 * map.cells),
            (2 * a + 1) * h / (2 * map.cells),
        );
        let p = cells.pixel(x as u32, y as u32).unwrap();
        let want = colour(range.position(map.values[a * map.cells + b_]));
        assert_eq!(
            (p.red(), p.green(), p.blue()),
            (want.0, want.1, want.2),
            "cell ({a}, {b_}) at ({x}, {y})"
        );
    }

    // PNG: twice the canvas, the same picture as the page's canvas.
    export(&b, "heatmap", "png").await;
    let png = b.download(&format!("{STEM}.png")).await;
    let image = resvg::tiny_skia::Pixmap::decode_png(&png).expect("a PNG");
    assert_eq!((image.width(), image.height()), (1280, 1080));
    let page = b
        .client
        .execute(
            "const c = document.querySelector(`[data-testid='heatmap']`);
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             const out = [];
             for (const [x, y] of arguments[0]) { const i = 4 * (y * c.width + x); out.push([d[i], d[i+1], d[i+2]]); }
             return out;",
            vec![json!([[300, 270], [200, 400], [450, 150], [320, 20]])],
        )
        .await
        .expect("canvas pixels");
    for (k, (x, y)) in [(300u32, 270u32), (200, 400), (450, 150)]
        .iter()
        .enumerate()
    {
        let p = image.pixel(2 * x + 1, 2 * y + 1).unwrap();
        let want: Vec<u8> = serde_json::from_value(page[k].clone()).unwrap();
        assert_eq!(
            vec![p.red(), p.green(), p.blue()],
            want,
            "PNG at 2×({x}, {y}) against the canvas"
        );
    }

    // The pattern's exports: the computed pairs by reason.
    export(&b, "pattern", "csv").await;
    let pattern = String::from_utf8(b.download(&format!("{STEM}_pattern.csv")).await).unwrap();
    assert!(pattern.starts_with("query_from,key_from,category,fraction_computed\n"));
    let lines = pattern.lines().skip(1).count();
    let expected_pattern = expected.artifacts.pattern().expect("a pattern");
    let nonzero = expected_pattern.codes.iter().filter(|&&c| c != 0).count();
    assert_eq!(lines, nonzero, "one line per cell with computed pairs");
    export(&b, "pattern", "svg").await;
    let svg = String::from_utf8(b.download(&format!("{STEM}_pattern.svg")).await).unwrap();
    assert!(svg.contains("<image") && svg.contains("query position i"));

    // The error law's exports once the sweep ran (longformer has no
    // budget; Performer has).
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    b.close().await;
}

/// axe-core's violations on the page as it is: `(id, impact, targets)`.
async fn axe(b: &Browser) -> Vec<(String, String, String)> {
    let path = std::env::var("FLT_AXE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".tools/npm/node_modules/axe-core/axe.min.js"));
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is missing at {} ({e}): scripts/test installs it (scripts/lib.sh)",
            path.display()
        )
    });
    b.client
        .execute(&format!("{source}\nwindow.axe = axe; return true;"), vec![])
        .await
        .expect("inject axe-core");
    let result = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             window.axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => [v.id, v.impact || '',
                   v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' ' + (n.failureSummary || '').split('\\n').slice(0, 2).join(' ')).join(' | ')])))
               .catch(e => done([['axe-error', 'critical', String(e)]]));",
            vec![],
        )
        .await
        .expect("run axe-core");
    serde_json::from_value(result).expect("violations")
}

/// Audits the page: prints every violation, and keeps the serious and
/// critical ones in `failures` (the test fails on them at its end, having
/// audited every route).
async fn audit(b: &Browser, what: &str, failures: &mut Vec<String>) {
    let violations = axe(b).await;
    for (id, impact, nodes) in &violations {
        eprintln!("axe on {what}: {id} ({impact}): {nodes}");
        if impact == "serious" || impact == "critical" {
            failures.push(format!("{what}: {id} ({impact}): {nodes}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn axe_finds_nothing_serious_on_any_route_before_and_after_results() {
    let b = Browser::open(false).await;
    let mut failures = Vec::new();
    let routes = [
        ("/", "lab-nav"),
        ("/attention", "explorer-page"),
        ("/compare", "compare-table"),
        ("/scaling", "scaling-page"),
        ("/compression/quantization", "qattention-section"),
        ("/compression/model-size", "shared-layers"),
    ];
    for (path, ready) in routes {
        b.goto_path(path).await;
        b.testid(ready).await;
        audit(&b, path, &mut failures).await;
    }
    // Every route in the dark theme too (its contrast), then back.
    b.testid("theme-toggle").await.click().await.expect("dark");
    for (path, ready) in routes {
        b.goto_path(path).await;
        b.testid(ready).await;
        audit(&b, &format!("{path} (dark)"), &mut failures).await;
    }
    b.testid("theme-toggle").await.click().await.expect("light");

    // With results: a run of each lab, then the page audited again (in the
    // dark theme too, for its contrast).
    b.goto(&format!("?{QUERY}")).await;
    b.measurement("the explorer's run", |m| m["n"] == 96).await;
    audit(&b, "/attention with results", &mut failures).await;
    b.testid("theme-toggle").await.click().await.expect("theme");
    tokio::time::sleep(Duration::from_millis(300)).await;
    audit(&b, "/attention with results, dark", &mut failures).await;
    b.testid("theme-toggle").await.click().await.expect("theme");

    b.goto_path("/attention?method=performer&n=64&d=8&features=16")
        .await;
    b.measurement("performer", |m| m["n"] == 64).await;
    b.testid("sweep-start").await.click().await.expect("sweep");
    b.measurement_of("sweep-status", "measurement", "the sweep", |_| true)
        .await;
    audit(&b, "/attention with an error law", &mut failures).await;

    b.goto_path("/compare?n=64&d=8").await;
    b.testid("compare-run").await.click().await.expect("Run");
    let started = Instant::now();
    while b
        .testid("compare-status")
        .await
        .attr("data-state")
        .await
        .ok()
        .flatten()
        .as_deref()
        != Some("done")
    {
        assert!(started.elapsed() < Duration::from_secs(240), "compare");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    audit(&b, "/compare with results", &mut failures).await;

    b.goto_path("/scaling?methods=full,linear&d=16&n-min=64&n-max=128")
        .await;
    b.testid("scaling-run").await.click().await.expect("Run");
    b.measurement_of("scaling-status", "crossovers", "the sweep", |_| true)
        .await;
    audit(&b, "/scaling with results", &mut failures).await;

    b.goto_path("/compression/quantization?rows=32&cols=32&bits=4")
        .await;
    b.measurement("the quantizer", |m| m["rows"] == 32).await;
    audit(&b, "/compression/quantization with results", &mut failures).await;

    b.goto_path("/compression/model-size?model=bert-base").await;
    b.testid("shared-layers").await;
    audit(&b, "/compression/model-size with results", &mut failures).await;
    b.close().await;
    assert!(failures.is_empty(), "serious or critical: {failures:#?}");
}

/// The focused element: its test id, tag and whether its focus shows (an
/// outline or a box shadow that is not none).
async fn focused(b: &Browser) -> (String, String, bool) {
    let v = b
        .client
        .execute(
            "const e = document.activeElement;
             const s = getComputedStyle(e);
             const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none';
             return [e.getAttribute('data-testid') || '', e.tagName.toLowerCase(), ring];",
            vec![],
        )
        .await
        .expect("the focused element");
    (
        v[0].as_str().unwrap_or_default().into(),
        v[1].as_str().unwrap_or_default().into(),
        v[2].as_bool().unwrap_or(false),
    )
}

async fn press(b: &Browser, keys: &str) {
    b.client
        .active_element()
        .await
        .expect("the focused element")
        .send_keys(keys)
        .await
        .expect("keys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn the_explorer_works_from_the_keyboard_alone() {
    let b = Browser::open(false).await;
    b.goto("?method=full&n=64&d=8").await;
    b.measurement("the first run", |m| m["n"] == 64).await;
    let tab = char::from(Key::Tab).to_string();
    // Tab from the top: every stop shows its focus; the method and n are
    // reached.
    b.client
        .execute(
            "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);",
            vec![],
        )
        .await
        .expect("blur");
    let (mut method_at, mut n_at) = (None, None);
    let mut stops = Vec::new();
    for step in 0..60 {
        press(&b, &tab).await;
        let (id, tag, ring) = focused(&b).await;
        assert!(ring, "stop {step} ({tag} {id}) has no visible focus");
        if id == "control-method" {
            method_at.get_or_insert(step);
        }
        if id == "control-n" {
            n_at.get_or_insert(step);
            break;
        }
        stops.push(format!("{tag}:{id}"));
    }
    assert!(
        method_at.is_some(),
        "the method is never reached: {stops:?}"
    );
    assert!(n_at.is_some(), "n is never reached: {stops:?}");

    // Change n by typing, commit with Enter; then the method with arrows.
    let select_all = format!("{}a", char::from(Key::Control));
    press(&b, &select_all).await;
    press(&b, &format!("128{}", char::from(Key::Enter))).await;
    b.measurement("n = 128 from the keyboard", |m| m["n"] == 128)
        .await;
    let shift_tab = format!("{}{}", char::from(Key::Shift), char::from(Key::Tab));
    for _ in 0..40 {
        let (id, _, _) = focused(&b).await;
        if id == "control-method" {
            break;
        }
        press(&b, &shift_tab).await;
    }
    assert_eq!(focused(&b).await.0, "control-method");
    press(&b, &char::from(Key::Down).to_string()).await;
    let m = b
        .measurement("another method from the keyboard", |m| {
            m["method"] != "full" && m["n"] == 128
        })
        .await;
    let url = b.client.current_url().await.expect("url");
    assert!(
        url.query()
            .unwrap_or_default()
            .contains(&format!("method={}", m["method"].as_str().unwrap())),
        "{url}"
    );
    // The colour-scale toggle: a pressed state screen readers hear.
    let log = b.testid("scale-log").await;
    log.send_keys(" ").await.expect("space on the log button");
    assert_eq!(
        log.attr("aria-pressed").await.ok().flatten().as_deref(),
        Some("true")
    );
    let linear = b.testid("scale-linear").await;
    assert_eq!(
        linear.attr("aria-pressed").await.ok().flatten().as_deref(),
        Some("false")
    );
    // In forced-colours mode (Windows high contrast) backgrounds are
    // dropped: the pressed button still differs by its border.
    b.client
        .issue_cmd(Cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "forced-colors", "value": "active" }] }),
        ))
        .await
        .expect("emulate forced colours");
    let border = |id: &'static str| {
        let c = b.client.clone();
        async move {
            c.execute(
                "const e = document.querySelector(`[data-testid='${arguments[0]}']`);
                 return [matchMedia('(forced-colors: active)').matches, parseFloat(getComputedStyle(e).borderTopWidth)];",
                vec![json!(id)],
            )
            .await
            .expect("border")
        }
    };
    let (pressed, other) = (border("scale-log").await, border("scale-linear").await);
    assert_eq!(pressed[0], true, "forced colours are not emulated");
    assert!(
        pressed[1].as_f64().unwrap() >= other[1].as_f64().unwrap() + 1.5,
        "pressed {pressed}, not pressed {other}"
    );
    b.close().await;
}

/// The elements that reach past the window's right edge (for a failure's
/// message): tag, class, test id and right edge.
async fn overflowing(b: &Browser) -> Value {
    b.client
        .execute(
            "const out = [];
             for (const e of document.querySelectorAll('body *')) {
               const r = e.getBoundingClientRect();
               let clipped = false;
               for (let p = e.parentElement; p; p = p.parentElement) {
                 const o = getComputedStyle(p).overflowX;
                 if (o !== 'visible') { clipped = true; break; }
               }
               if (!clipped && r.right > window.innerWidth + 1 && r.width > 0)
                 out.push(`${e.tagName.toLowerCase()}.${e.className}[${e.getAttribute('data-testid') || ''}] ${Math.round(r.left)}..${Math.round(r.right)}`);
             }
             return out.slice(0, 12);",
            vec![],
        )
        .await
        .expect("overflowing elements")
}

/// A Chrome DevTools command through chromedriver
/// (`POST /session/{id}/goog/cdp/execute`).
#[derive(Debug)]
struct Cdp(&'static str, Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "cmd": self.0, "params": self.1 }).to_string()),
        )
    }
}

/// The colour of a canvas pixel.
async fn pixel(b: &Browser, id: &str, x: u32, y: u32) -> Vec<u8> {
    let v = b
        .client
        .execute(
            "const c = document.querySelector(`[data-testid='${arguments[0]}']`);
             return Array.from(c.getContext('2d').getImageData(arguments[1], arguments[2], 1, 1).data.slice(0, 3));",
            vec![json!(id), json!(x), json!(y)],
        )
        .await
        .expect("a pixel");
    serde_json::from_value(v).expect("rgb")
}

fn save_doc_screenshot(name: &str) {
    let from = root().join("target/screenshots").join(name);
    let dir = root().join("docs/screenshots");
    std::fs::create_dir_all(&dir).expect("docs/screenshots");
    std::fs::copy(&from, dir.join(name)).expect("copy the screenshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn dark_theme_is_remembered_and_redraws_the_charts() {
    let b = Browser::open(false).await;
    b.goto(&format!("?{QUERY}")).await;
    b.measurement("the run", |m| m["n"] == 96).await;
    assert_eq!(pixel(&b, "heatmap", 2, 2).await, vec![255, 255, 255]);
    let toggle = b.testid("theme-toggle").await;
    assert_eq!(
        toggle.attr("aria-pressed").await.ok().flatten().as_deref(),
        Some("false")
    );
    toggle.click().await.expect("toggle");
    let started = Instant::now();
    loop {
        let corner = pixel(&b, "heatmap", 2, 2).await;
        if corner.iter().all(|&c| c < 60) {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the heatmap stays light: {corner:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        toggle.attr("aria-pressed").await.ok().flatten().as_deref(),
        Some("true")
    );
    // Remembered: a reload opens dark, before and after the run.
    b.client.refresh().await.expect("reload");
    b.measurement("the run after reload", |m| m["n"] == 96)
        .await;
    let theme = b
        .client
        .execute("return [document.documentElement.getAttribute('data-theme'), localStorage.getItem('flt-theme'), getComputedStyle(document.body).backgroundColor];", vec![])
        .await
        .expect("theme");
    assert_eq!(theme[0], "dark", "{theme}");
    assert_eq!(theme[1], "dark", "{theme}");
    assert!(b.heatmap_painted().await);
    assert!(pixel(&b, "heatmap", 2, 2).await.iter().all(|&c| c < 60));
    b.screenshot("dark.png").await;
    save_doc_screenshot("dark.png");
    b.close().await;

    // A reader who chose nothing gets the system's preference.
    let b = Browser::open(false).await;
    b.client
        .issue_cmd(Cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] }),
        ))
        .await
        .expect("emulate a dark system");
    b.goto(&format!("?{QUERY}")).await;
    b.measurement("the run in a dark system", |m| m["n"] == 96)
        .await;
    let theme = b
        .client
        .execute(
            "return [document.documentElement.getAttribute('data-theme'), localStorage.getItem('flt-theme')];",
            vec![],
        )
        .await
        .expect("theme");
    assert_eq!(theme, json!(["dark", null]));
    assert!(pixel(&b, "heatmap", 2, 2).await.iter().all(|&c| c < 60));
    // The toggle overrides it, and is remembered.
    b.testid("theme-toggle").await.click().await.expect("light");
    let started = Instant::now();
    while pixel(&b, "heatmap", 2, 2).await != vec![255, 255, 255] {
        assert!(started.elapsed() < WAIT, "the heatmap stays dark");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored = b
        .client
        .execute("return localStorage.getItem('flt-theme');", vec![])
        .await
        .expect("stored");
    assert_eq!(stored, "light");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn a_390_px_window_keeps_the_page_in_its_width() {
    let b = Browser::open(false).await;
    b.client
        .set_window_size(390, 1400)
        .await
        .expect("a phone's width");
    b.goto(&format!("?{QUERY}")).await;
    b.measurement("the run", |m| m["n"] == 96).await;
    assert!(b.heatmap_painted().await);
    let fit = b
        .client
        .execute(
            "const c = document.querySelector(`[data-testid='heatmap']`);
             return [document.documentElement.scrollWidth, window.innerWidth,
                     c.getBoundingClientRect().width, Number(c.getAttribute('data-text-scale'))];",
            vec![],
        )
        .await
        .expect("widths");
    let (scroll, inner, shown, scale) = (
        fit[0].as_f64().unwrap(),
        fit[1].as_f64().unwrap(),
        fit[2].as_f64().unwrap(),
        fit[3].as_f64().unwrap_or(0.0),
    );
    if scroll > inner + 1.0 {
        panic!(
            "the page scrolls sideways: {scroll} > {inner}: {}",
            overflowing(&b).await
        );
    }
    assert!(
        shown <= inner && shown > 200.0,
        "the heatmap is {shown} px wide"
    );
    // The chart's text scales with the canvas's CSS size: 640 px drawn in
    // `shown` px, so fonts are drawn 640/shown (capped) times larger.
    assert!(
        (scale - (640.0 / shown).min(1.75)).abs() < 0.02,
        "text scale {scale} for {shown} px"
    );
    b.screenshot("narrow-390.png").await;
    save_doc_screenshot("narrow-390.png");
    for path in [
        "/",
        "/compare",
        "/scaling",
        "/compression/quantization",
        "/compression/model-size",
    ] {
        b.goto_path(path).await;
        b.testid("lab-nav").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let w = b
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .expect("widths");
        if w[0].as_f64().unwrap() > w[1].as_f64().unwrap() + 1.0 {
            panic!(
                "{path} scrolls sideways at 390 px: {w}: {}",
                overflowing(&b).await
            );
        }
    }
    b.close().await;
}

/// A CSV file's lines split on commas (the exports quote nothing in the
/// columns read here).
fn csv_rows(bytes: Vec<u8>) -> Vec<Vec<String>> {
    String::from_utf8(bytes)
        .expect("UTF-8")
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// The stem the chart's export buttons will use: read back from the
/// message the page shows once a file is saved.
async fn saved_name(b: &Browser, chart: &str) -> String {
    let css = format!("[data-chart='{chart}'] [data-testid='export-saved']");
    let saved = b
        .client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    let text = saved.text().await.unwrap_or_default();
    text.rsplit(": ")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Exports `chart`'s CSV and returns its rows.
async fn export_csv(b: &Browser, chart: &str) -> Vec<Vec<String>> {
    export(b, chart, "csv").await;
    let name = saved_name(b, chart).await;
    assert!(name.ends_with(".csv"), "{chart}: saved {name}");
    csv_rows(b.download(&name).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn every_chart_exports_the_numbers_it_draws() {
    let b = Browser::open(false).await;

    // The error law: one line per budget swept, as many as drawn.
    b.goto_path("/attention?method=performer&n=64&d=8&features=16")
        .await;
    b.measurement("performer", |m| m["n"] == 64).await;
    b.testid("sweep-start").await.click().await.expect("sweep");
    let started = Instant::now();
    while b
        .testid("sweep-status")
        .await
        .attr("data-state")
        .await
        .ok()
        .flatten()
        .as_deref()
        != Some("done")
    {
        assert!(started.elapsed() < WAIT, "the sweep");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let drawn: usize = b
        .testid("error-law")
        .await
        .attr("data-points")
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
        .parse()
        .unwrap_or(0);
    let rows = export_csv(&b, "error-law").await;
    assert!(drawn >= 3, "{drawn} points");
    assert_eq!(rows.len() - 1, drawn, "{rows:?}");
    let budget = rows[0].iter().position(|h| h == "budget").expect("budget");
    let mean = rows[0].iter().position(|h| h == "mean").expect("mean");
    // The page's numbers table (three digits) holds the same means.
    let table: Value = b
        .client
        .execute(
            "return Array.from(document.querySelectorAll(`[data-testid='error-law-numbers'] tbody tr`))
               .map(tr => Array.from(tr.children).map(c => c.textContent));",
            vec![],
        )
        .await
        .expect("the numbers table");
    let table: Vec<Vec<String>> = serde_json::from_value(table).expect("rows");
    assert_eq!(table.len(), drawn);
    for (r, shown) in rows[1..].iter().zip(&table) {
        assert_eq!(r[budget], shown[0]);
        let m: f64 = r[mean].parse().unwrap();
        let on_page: f64 = shown[1].parse().unwrap();
        assert!(
            (m - on_page).abs() <= 5e-3 * m.abs(),
            "budget {}: CSV {m}, page {on_page}",
            r[budget]
        );
    }
    for kind in ["svg", "png"] {
        export(&b, "error-law", kind).await;
        let name = saved_name(&b, "error-law").await;
        assert_eq!(name, format!("performer_n64_f16_error-law.{kind}"));
        assert!(!b.download(&name).await.is_empty());
    }

    // The effective context: the CSV's reach is the page's readout.
    b.goto_path("/attention?method=transformer-xl&n=256&d=8&segment=32&memory=32")
        .await;
    let reach = b
        .testid("effective-context-readout")
        .await
        .attr("data-reach")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let rows = export_csv(&b, "effective-context").await;
    assert_eq!(rows[0][..3], ["layers", "reach", "rule_of_thumb"]);
    let csv_reach: Vec<u64> = rows[1..].iter().map(|r| r[1].parse().unwrap()).collect();
    assert_eq!(format!("{csv_reach:?}"), reach);

    // The quantizer: the histogram counts every weight; the error map's
    // cells never exceed the largest error.
    b.goto_path("/compression/quantization?rows=32&cols=48&bits=4")
        .await;
    let m = b.measurement("the quantizer", |m| m["rows"] == 32).await;
    let rows = export_csv(&b, "histogram").await;
    let count: u64 = rows[1..]
        .iter()
        .filter(|r| r[0] == "bin")
        .map(|r| r[3].parse::<u64>().unwrap())
        .sum();
    assert_eq!(count, 32 * 48);
    let levels = rows[1..].iter().filter(|r| r[0] == "level").count();
    assert!((2..=16).contains(&levels), "{levels} levels at 4 bits");
    let rows = export_csv(&b, "error-map").await;
    let max_abs = number(&m, "max_abs_err");
    let cells: Vec<f64> = rows[1..]
        .iter()
        .flat_map(|r| r[1..].iter().map(|v| v.parse::<f64>().unwrap()))
        .collect();
    assert!(!cells.is_empty());
    assert!(
        cells
            .iter()
            .all(|&c| c >= 0.0 && c <= max_abs * (1.0 + 1e-6)),
        "a cell above max_abs_err {max_abs}"
    );
    assert!(cells.iter().any(|&c| c > 0.0));

    // Model sizes: one row holds the measurement's five sizes.
    b.goto_path("/compression/model-size?model=bert-base").await;
    let m = b
        .measurement("BERT-base", |m| m["model"] == "bert-base")
        .await;
    let rows = export_csv(&b, "model-size-chart").await;
    let want: Vec<String> = ["fp32", "fp16", "int8", "int4", "binary"]
        .iter()
        .map(|p| m[format!("bytes_{p}")].as_u64().unwrap().to_string())
        .collect();
    assert!(
        rows[1..].iter().any(|r| r[1..] == want[..]),
        "no row with {want:?} in {rows:?}"
    );

    // The comparison's table: its rows are the raw data's.
    b.goto_path("/compare?n=32&d=8").await;
    b.testid("compare-run").await.click().await.expect("Run");
    let started = Instant::now();
    while b
        .testid("compare-status")
        .await
        .attr("data-state")
        .await
        .ok()
        .flatten()
        .as_deref()
        != Some("done")
    {
        assert!(started.elapsed() < Duration::from_secs(240), "compare");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let json: Value = serde_json::from_str(
        &b.testid("compare-measurement")
            .await
            .text()
            .await
            .unwrap_or_default(),
    )
    .expect("the raw data");
    export(&b, "compare-table", "csv").await;
    let name = saved_name(&b, "compare-table").await;
    let text = String::from_utf8(b.download(&name).await).unwrap();
    assert!(text.starts_with("method,label,family,"), "{text}");
    let methods: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let expected: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, expected);
    let errors = b.console_errors_beyond_deep_links().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    b.close().await;
}
