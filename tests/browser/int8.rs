//! The int8 matrix product section of `/compression/quantization`, through
//! its controls: with WebGPU (SwiftShader) the int8 kernels run on the GPU,
//! equal the twin exactly and name their path; without WebGPU the CPU twins
//! run and the section says its timings are the twins'. Bad values get a
//! message and the nearest valid value; the app keeps working.

use super::harness::*;

/// The section's JSON once its status says done and `ok` holds.
async fn int8_measurement(b: &Browser, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    b.measurement_of("int8-status", "int8-measurement", what, ok)
        .await
}

fn kernel<'a>(m: &'a Value, key: &str) -> Option<&'a Value> {
    m["kernels"]
        .as_array()
        .and_then(|ks| ks.iter().find(|k| k["kernel"] == key))
}

/// A screenshot of the section alone.
async fn section_screenshot(b: &Browser, name: &str) {
    let section = b.testid("int8-section").await;
    b.client
        .execute(
            "document.querySelector(\"[data-testid='int8-section']\").scrollIntoView();",
            vec![],
        )
        .await
        .expect("scroll");
    let png = section.screenshot().await.expect("section screenshot");
    let dir = root().join("target").join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    std::fs::write(dir.join(name), png).expect("write screenshot");
}

/// Console errors, less the static host's 404 status for the deep-linked
/// document itself (it answers a sub-route with 404.html, a copy of the app).
async fn console_errors(b: &Browser) -> Vec<String> {
    let document_404 = |e: &String| {
        e.starts_with(&format!("{}/compression/quantization", b.base))
            && e.ends_with("the server responded with a status of 404 (Not Found)")
    };
    b.console_errors()
        .await
        .into_iter()
        .filter(|e| !document_404(e))
        .collect()
}

async fn state(b: &Browser) -> String {
    b.testid("int8-status")
        .await
        .attr("data-state")
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn webgpu_int8_product_is_exact_and_names_its_path() {
    let b = Browser::open(true).await;
    // SwiftShader is a software adapter: the GPU by name (issue 12).
    b.goto_path("/compression/quantization?backend=gpu").await;
    // Nothing runs before Run is pressed (no int8- parameter in the link).
    assert_eq!(state(&b).await, "idle");

    // Odd shapes through the number fields: not multiples of 4 or of the tile.
    b.type_number("int8-m", "37").await;
    b.type_number("int8-k", "45").await;
    b.type_number("int8-n", "29").await;
    b.testid("int8-run").await.click().await.expect("run");
    let m = int8_measurement(&b, "37×45×29 on the GPU", |m| {
        m["m"] == 37 && m["k"] == 45 && m["n"] == 29
    })
    .await;
    assert_eq!(m["backend"], "gpu", "{m}");
    assert_eq!(m["api"], "WebGPU", "{m}");
    assert_eq!(m["checked_rows"], 37);
    let packed = m["packed_dot"]["available"] == true;
    // Chromium has packed_4x8_integer_dot_product: the packed kernel must run.
    assert!(packed, "no packed_4x8_integer_dot_product: {m}");
    let p = kernel(&m, "int8-packed").unwrap_or_else(|| panic!("no packed run: {m}"));
    assert_eq!(p["exact"], true, "{p}");
    assert_eq!(p["mismatches"], 0);
    assert!(
        p["path"]
            .as_str()
            .is_some_and(|s| s.starts_with("packed (") && s.contains("browser")),
        "{p}"
    );
    let u = kernel(&m, "int8-unpacked").unwrap_or_else(|| panic!("no unpacked run: {m}"));
    assert_eq!(u["exact"], true, "{u}");
    assert_eq!(u["path"], "unpacked fallback");
    let f = kernel(&m, "f32").unwrap_or_else(|| panic!("no f32 run: {m}"));
    assert!(number(f, "rel_err") < 1e-5, "{f}");
    for k in [p, u] {
        let e = number(k, "rel_err");
        assert!(e > 1e-3 && e < 0.05, "int8 error {e}: {k}");
        assert!(number(k, "time_ms") >= 0.0);
        assert!(k["speedup_vs_f32"].is_number() || number(k, "time_ms") == 0.0);
    }
    let url = b.client.current_url().await.expect("url");
    for part in ["int8-m=37", "int8-k=45", "int8-n=29"] {
        assert!(url.as_str().contains(part), "{url}");
    }
    // The table names the path; the ratio is in words; the chart is painted.
    let table = b
        .testid("int8-table")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        table.contains("packed (") && table.contains("unpacked fallback"),
        "{table}"
    );
    let ratio = b
        .testid("int8-ratio")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(ratio.contains("the speed of f32"), "{ratio}");
    let chart = b.testid("int8-chart").await;
    assert_eq!(
        chart.attr("data-painted").await.ok().flatten().as_deref(),
        Some("true")
    );
    section_screenshot(&b, "int8.png").await;

    // A bad value: a message, the nearest valid value, and the next run works.
    b.type_number("int8-k", "0").await;
    let issues = b
        .testid("int8-issues")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        issues.contains("int8-k=0 is below the minimum 1"),
        "{issues}"
    );
    b.testid("int8-run").await.click().await.expect("run");
    let m = int8_measurement(&b, "K = 1", |m| m["k"] == 1 && m["m"] == 37).await;
    assert_eq!(
        kernel(&m, "int8-packed").map(|k| &k["exact"]),
        Some(&json!(true))
    );

    // A link with the section's settings runs on arrival; the page's
    // backend parameter is followed.
    b.goto_path(
        "/compression/quantization?backend=gpu&int8-m=9&int8-k=33&int8-n=5&int8-kernel=unpacked",
    )
    .await;
    let m = int8_measurement(&b, "the linked unpacked run", |m| m["m"] == 9).await;
    let keys: Vec<&str> = m["kernels"]
        .as_array()
        .map(|ks| ks.iter().filter_map(|k| k["kernel"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["int8-unpacked", "f32"], "{m}");
    b.goto_path("/compression/quantization?backend=cpu&int8-m=8&int8-k=20&int8-n=6")
        .await;
    let m = int8_measurement(&b, "backend=cpu", |m| m["m"] == 8).await;
    assert_eq!(m["backend"], "cpu");

    // A shape where the kernels' throughput shows, for the screenshot.
    b.goto_path("/compression/quantization?backend=gpu&int8-m=256&int8-k=512&int8-n=256")
        .await;
    let m = int8_measurement(&b, "256×512×256", |m| m["m"] == 256).await;
    for k in ["int8-packed", "int8-unpacked"] {
        assert_eq!(
            kernel(&m, k).map(|k| &k["exact"]),
            Some(&json!(true)),
            "{k}: {m}"
        );
    }
    section_screenshot(&b, "int8.png").await;

    let errors = console_errors(&b).await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn without_webgpu_the_int8_twins_run_and_say_so() {
    let b = Browser::open(false).await;
    b.goto_path("/compression/quantization?int8-m=24&int8-k=41&int8-n=17")
        .await;
    let m = int8_measurement(&b, "the CPU twins", |m| m["m"] == 24).await;
    assert_eq!(m["backend"], "cpu", "{m}");
    let keys: Vec<&str> = m["kernels"]
        .as_array()
        .map(|ks| ks.iter().filter_map(|k| k["kernel"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["int8-twin", "f32-twin"], "{m}");
    let twin = kernel(&m, "int8-twin").expect("int8 twin");
    assert_eq!(twin["exact"], true, "{twin}");
    assert!(
        twin["timing_detail"]
            .as_str()
            .is_some_and(|s| s.contains("CPU twin"))
    );
    assert!(
        m["backend_reason"].as_str().is_some_and(|s| !s.is_empty()),
        "{m}"
    );
    let note = b
        .testid("int8-cpu-note")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(note.contains("CPU twins"), "{note}");
    let badge = b
        .testid("int8-backend")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(badge.starts_with("CPU — "), "{badge}");

    // Too large for the twin in a page: a clear message, then a valid run.
    for (id, v) in [("int8-m", "4096"), ("int8-k", "4096"), ("int8-n", "4096")] {
        b.type_number(id, v).await;
    }
    b.testid("int8-run").await.click().await.expect("run");
    let started = Instant::now();
    while state(&b).await != "error" {
        assert!(started.elapsed() < WAIT, "no refusal of 4096³ on the CPU");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let message = b
        .testid("int8-error")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(message.contains("flt matmul --m 4096"), "{message}");
    b.type_number("int8-m", "9").await;
    b.testid("int8-run").await.click().await.expect("run");
    let m = int8_measurement(&b, "9×4096×4096 on the CPU", |m| m["m"] == 9).await;
    assert_eq!(
        kernel(&m, "int8-twin").map(|k| &k["exact"]),
        Some(&json!(true))
    );
    section_screenshot(&b, "int8-cpu.png").await;

    let errors = console_errors(&b).await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}
