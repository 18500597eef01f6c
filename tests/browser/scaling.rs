//! The scaling page (`/scaling`) through its controls: methods picked with
//! the checkboxes, the range of n and d typed in, the sweep run with the
//! button; then the time and memory charts must be painted, the crossover
//! readout must be JSON with an entry per chosen method, the table must
//! hold a row per swept method, every export must save without an error,
//! a reload of the address from the static build must restore the controls
//! and run again, and the console must stay clean. With WebGPU (SwiftShader)
//! and without it (the CPU twins).

use super::harness::*;

/// The methods the test picks (the reference, a windowed and a kernel one).
const CHOSEN: [&str; 3] = ["full", "longformer", "linear"];

async fn checked(b: &Browser, id: &str) -> bool {
    b.testid(id)
        .await
        .prop("checked")
        .await
        .ok()
        .flatten()
        .as_deref()
        == Some("true")
}

async fn query(b: &Browser) -> String {
    let url = b.client.current_url().await.expect("url");
    url.query().unwrap_or_default().to_string()
}

/// Waits for the sweep to finish and returns the crossover readout, which
/// must name every chosen method.
async fn finished(b: &Browser, what: &str) -> Value {
    let crossovers = b
        .measurement_of("scaling-status", "crossovers", what, |c| {
            c.as_object()
                .is_some_and(|o| CHOSEN.iter().all(|m| o.contains_key(*m)))
        })
        .await;
    let object = crossovers.as_object().expect("an object");
    assert_eq!(object.len(), CHOSEN.len(), "{crossovers}");
    for (method, n) in object {
        assert!(
            n.is_null() || n.as_u64().is_some_and(|n| (64..=512).contains(&n)),
            "{method}: {n}"
        );
    }
    // The reference is never faster than itself.
    assert!(crossovers["full"].is_null(), "{crossovers}");
    crossovers
}

/// The checks on a finished sweep: charts, table, exports.
async fn check_results(b: &Browser, backend: &str) {
    assert!(
        b.canvas_painted("scaling-chart").await,
        "the time chart is not painted"
    );
    assert!(
        b.canvas_painted("scaling-memory-chart").await,
        "the memory chart is not painted"
    );
    let points = b
        .testid("scaling-chart")
        .await
        .attr("data-points")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    // 3 methods × n = 64, 128, 256, 512 (none stops: far below any limit
    // or budget).
    assert_eq!(points, "12", "points on the chart");
    let badge = b.testid("backend-badge").await;
    assert_eq!(
        badge.attr("data-backend").await.ok().flatten().as_deref(),
        Some(backend)
    );
    let rows = b
        .client
        .find_all(Locator::Css("[data-testid='exponents'] tbody tr"))
        .await
        .expect("rows");
    let mut methods = Vec::new();
    for row in &rows {
        methods.push(
            row.attr("data-method")
                .await
                .ok()
                .flatten()
                .unwrap_or_default(),
        );
    }
    assert_eq!(methods, CHOSEN, "table rows");
    for row in &rows {
        let text = row.text().await.unwrap_or_default();
        assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
    }
    for (button, what) in [
        ("scaling-download-csv", "CSV"),
        ("scaling-download-json", "JSON"),
        ("scaling-download-svg", "SVG"),
        ("scaling-download-png", "PNG"),
    ] {
        click(b, button).await;
        let saved = b
            .testid("scaling-saved")
            .await
            .text()
            .await
            .unwrap_or_default();
        assert!(
            saved.starts_with(&format!("{what} saved")),
            "{button}: {saved}"
        );
    }
}

async fn drive(webgpu: bool, backend: &str, screenshot: &str) {
    let b = Browser::open(webgpu).await;
    // SwiftShader is a software adapter: the GPU by name (issue 12).
    b.goto_path(if webgpu {
        "/scaling?backend=gpu"
    } else {
        "/scaling"
    })
    .await;
    b.testid("scaling-page").await;
    // The default methods, then only the reference, then two more.
    assert!(checked(&b, "method-linformer").await);
    click(&b, "methods-reference").await;
    for m in ["longformer", "linear"] {
        click(&b, &format!("method-{m}")).await;
    }
    b.type_number("control-d", "16").await;
    b.type_number("control-n-min", "64").await;
    b.type_number("control-n-max", "512").await;
    let q = query(&b).await;
    assert!(
        q.starts_with("methods=full%2Clongformer%2Clinear&d=16&n-min=64&n-max=512"),
        "{q}"
    );
    assert!(!checked(&b, "method-linformer").await);
    click(&b, "scaling-run").await;
    finished(&b, "the first sweep").await;
    check_results(&b, backend).await;
    b.screenshot(screenshot).await;
    b.client
        .execute(
            "document.querySelector(`[data-testid='scaling-exports']`).scrollIntoView()",
            vec![],
        )
        .await
        .expect("scroll");
    b.screenshot(&screenshot.replace(".png", "-results.png"))
        .await;

    // The address reloaded from the static host (404.html boots the app).
    let path = format!("/scaling?{}", query(&b).await);
    b.goto_path(&path).await;
    b.testid("scaling-page").await;
    for m in CHOSEN {
        assert!(
            checked(&b, &format!("method-{m}")).await,
            "{m} after reload"
        );
    }
    assert!(!checked(&b, "method-linformer").await);
    let n_max = b
        .testid("control-n-max")
        .await
        .prop("value")
        .await
        .ok()
        .flatten();
    assert_eq!(n_max.as_deref(), Some("512"));
    click(&b, "scaling-run").await;
    finished(&b, "the sweep after the reload").await;
    check_results(&b, backend).await;

    // A bad address gets a message, not a blank page.
    b.goto_path("/scaling?methods=linear,bogus&n-max=1000")
        .await;
    let issues = b
        .testid("settings-issues")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        issues.contains("'bogus' is not a known method")
            && issues.contains("n-max=1000 is not a power of two; using 512"),
        "{issues}"
    );

    // A long sweep stops on Cancel, keeping what it measured.
    b.goto_path("/scaling?methods=full,linear&d=64&n-min=1024&n-max=16384")
        .await;
    click(&b, "scaling-run").await;
    let state = |b: &Browser| {
        let b = b.client.clone();
        async move {
            b.find(Locator::Css("[data-testid='scaling-status']"))
                .await
                .expect("status")
                .attr("data-state")
                .await
                .ok()
                .flatten()
                .unwrap_or_default()
        }
    };
    let started = Instant::now();
    while state(&b).await != "running" {
        assert!(started.elapsed() < WAIT, "the sweep did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    click(&b, "scaling-cancel").await;
    b.testid("scaling-cancelled").await;
    let stopped = Instant::now();
    loop {
        let now = state(&b).await;
        if now == "idle" || now == "done" {
            break;
        }
        assert!(stopped.elapsed() < WAIT, "still {now} after Cancel");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let errors = b.console_errors_beyond_deep_links().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn webgpu_scaling_sweeps_methods_through_its_controls() {
    drive(true, "gpu", "scaling.png").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn without_webgpu_the_scaling_sweep_runs_on_the_cpu_twins() {
    drive(false, "cpu", "scaling-cpu.png").await;
}
