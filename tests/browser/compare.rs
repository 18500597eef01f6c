//! The comparison page (`/compare`) through its controls: Run, the table
//! filling with one row per registered method, sorting through the real
//! column headers, a row's link to the explorer with the same settings,
//! Cancel, the recommendations' links, the raw JSON against the library's
//! comparison, and a reload of the route from the static build — with
//! WebGPU and without it (the CPU twin).

use flt_explorer::attention::MethodId;
use flt_explorer::pipeline::compare::recommendations::RECOMMENDATIONS;
use flt_explorer::pipeline::labs::LABS;

use super::harness::*;

/// Waits until the comparison's status is `done` and returns the rows of
/// its raw JSON.
async fn comparison_done(b: &Browser, what: &str) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let status = b.testid("compare-status").await;
        let state = status
            .attr("data-state")
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let text = status.text().await.unwrap_or_default();
        assert!(
            state != "error",
            "the comparison failed while waiting for {what}: {text}"
        );
        if state == "done" {
            let json = b
                .testid("compare-measurement")
                .await
                .text()
                .await
                .unwrap_or_default();
            let rows: Value = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("{what}: the raw data is not JSON ({e}): {json}"));
            return rows.as_array().cloned().unwrap_or_default();
        }
        if started.elapsed() > Duration::from_secs(240) {
            b.screenshot("compare-timeout.png").await;
            panic!("timed out waiting for {what} (state {state}: {text})");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The table's rows in page order: `(data-method, data-state, attribute)`.
async fn table_rows(b: &Browser, attribute: &str) -> Vec<(String, String, Option<String>)> {
    let rows = b
        .client
        .find_all(Locator::Css(
            "[data-testid='compare-table'] tbody tr[data-method]",
        ))
        .await
        .expect("rows");
    let mut out = Vec::new();
    for row in rows {
        out.push((
            row.attr("data-method")
                .await
                .ok()
                .flatten()
                .unwrap_or_default(),
            row.attr("data-state")
                .await
                .ok()
                .flatten()
                .unwrap_or_default(),
            row.attr(attribute).await.ok().flatten(),
        ));
    }
    out
}

/// Clicks a column's sort button and returns its header's `aria-sort`.
async fn sort_by(b: &Browser, key: &str) -> String {
    b.testid(&format!("sort-{key}"))
        .await
        .click()
        .await
        .expect("click a column header");
    let header = b
        .client
        .find(Locator::XPath(&format!(
            "//button[@data-testid='sort-{key}']/ancestor::th"
        )))
        .await
        .expect("the header cell");
    header
        .attr("aria-sort")
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// The figures of a sort column, in page order, of the rows that have one.
async fn column(b: &Browser, attribute: &str) -> Vec<f64> {
    table_rows(b, attribute)
        .await
        .into_iter()
        .filter_map(|(_, _, v)| v.and_then(|v| v.parse().ok()))
        .collect()
}

/// Whether the attention lab refuses `method` in a table that is causal or
/// not (before any work): such a row is skipped, with the lab's reason.
fn refuses(method: MethodId, causal: bool) -> bool {
    use flt_explorer::pipeline::{Backend, Quiet, RunError};
    let (s, _) = flt_explorer::settings::compare::CompareSettings::from_query("n=8&d=4");
    let mut problem = s.problem(flt_explorer::gpu::GpuRunOptions::default(), false);
    problem.causal = causal;
    let cpu = Backend::Cpu { reason: None };
    let attention = problem.attention_problem(method, &cpu);
    matches!(
        pollster::block_on(flt_explorer::pipeline::attention::run(
            &attention, &cpu, &Quiet
        )),
        Err(RunError::Method(_))
    )
}

/// Prints the rows as a small table (the test's log keeps what this
/// adapter measured).
fn log_rows(what: &str, rows: &[Value]) {
    eprintln!("{what}:");
    for r in rows {
        eprintln!(
            "  {:<20} {:>10} {:>10} {:>9} {:>9} {:>10} {:>7}  {}",
            r["method"].as_str().unwrap_or_default(),
            r["flops_algorithmic"],
            r["flops"],
            r["time_ms"]
                .as_f64()
                .map_or("—".into(), |t| format!("{t:.3}")),
            r["time_vs_full"]
                .as_f64()
                .map_or("—".into(), |t| format!("{t:.2}")),
            r["rel_err"]
                .as_f64()
                .map_or("—".into(), |e| format!("{e:.3e}")),
            r["baseline_mean_v_rel_err"]
                .as_f64()
                .map_or("—".into(), |e| format!("{e:.3}")),
            r["status"].as_str().unwrap_or_default(),
        );
    }
}

/// Every row of the JSON has the contract's keys, finite where measured;
/// a row is skipped exactly when its method refuses the table's causality.
fn check_rows(rows: &[Value], backend: &str) {
    assert_eq!(rows.len(), MethodId::ALL.len(), "one row per method");
    for (row, m) in rows.iter().zip(MethodId::ALL) {
        assert_eq!(row["method"], m.key());
        if refuses(*m, row["causal"] == true) {
            assert_eq!(row["status"], "skipped", "{}: {row}", m.key());
            assert!(row["error"].is_string() && row["time_ms"].is_null());
            continue;
        }
        for key in [
            "method",
            "complexity_time",
            "complexity_space",
            "causal_supported",
            "flops",
            "bytes",
            "time_ms",
            "rel_err",
        ] {
            assert!(row.get(key).is_some(), "{}: no {key}", m.key());
        }
        assert_eq!(row["status"], "measured", "{}: {row}", m.key());
        assert_eq!(row["backend"], backend, "{}: {row}", m.key());
        for key in [
            "time_ms",
            "rel_err",
            "baseline_mean_v_rel_err",
            "baseline_zero_rel_err",
        ] {
            assert!(number(row, key).is_finite(), "{}: {key}", m.key());
        }
        assert!(number(row, "flops") > 0.0 && number(row, "bytes") > 0.0);
        assert_eq!(row["complexity_time"], m.info().complexity.time);
        assert_eq!(row["best_for"], m.info().best_for);
    }
}

/// Every link of the table and of the recommendations opens a route of the
/// app (no dead links): its path, less the site's base, is a lab's route.
async fn links_resolve(b: &Browser) {
    let links = b
        .client
        .find_all(Locator::Css(
            "[data-testid='compare-table'] a, [data-testid='recommendations'] a",
        ))
        .await
        .expect("links");
    assert!(links.len() >= MethodId::ALL.len());
    for link in links {
        let href = link.prop("href").await.ok().flatten().unwrap_or_default();
        let path = href
            .strip_prefix(&b.base)
            .unwrap_or(&href)
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(
            LABS.iter().any(|lab| lab.route == path),
            "a link to no page: {href}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn webgpu_compare_fills_sorts_and_links_to_the_explorer() {
    let b = Browser::open(true).await;
    // The page's default n with d = 16, not its default 64: a quarter of
    // the work on SwiftShader (the CPU test runs the defaults), for this
    // table and for the n = 1024 rerun below, which keeps d. (At n = 128
    // BigBird's blocks cover every pair and tie with exact attention.)
    let (n, d, seed) = (256, 16, 1);
    // SwiftShader is a software adapter: the GPU by name (issue 12).
    let query = format!("n={n}&d={d}&seed={seed}&backend=gpu");
    b.goto_path(&format!("/compare?{query}")).await;
    b.testid("compare-table").await;
    let before = table_rows(&b, "data-state").await;
    assert_eq!(
        before.len(),
        MethodId::ALL.len(),
        "a row per method before the run"
    );
    assert!(before.iter().all(|(_, state, _)| state == "pending"));

    b.testid("compare-run").await.click().await.expect("Run");
    let rows = comparison_done(&b, "the WebGPU comparison").await;
    log_rows("WebGPU at the defaults", &rows);
    check_rows(&rows, "gpu");
    let badge = b
        .testid("backend-badge")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(badge.starts_with("WebGPU — "), "badge: {badge}");
    let shown = table_rows(&b, "data-time-ms").await;
    assert_eq!(shown.len(), MethodId::ALL.len());
    for (method, state, time) in &shown {
        let row = rows
            .iter()
            .find(|r| &r["method"] == method)
            .expect("its row");
        assert_eq!(&row["status"], state, "{method}");
        assert_eq!(time.is_some(), state == "measured", "{method}");
    }
    for row in rows.iter().filter(|r| r["status"] == "measured") {
        assert_eq!((row["n"].as_u64(), row["d"].as_u64()), (Some(n), Some(d)));
        assert!(
            row["time_source"]
                .as_str()
                .unwrap_or_default()
                .starts_with("GPU kernels"),
            "{row}"
        );
    }
    let full = rows.iter().find(|r| r["method"] == "full").expect("full");
    assert!(number(full, "rel_err") < 1e-4, "{full}");
    assert_eq!(number(full, "time_vs_full"), 1.0);

    // Sorting through the real headers: time ascending, then descending;
    // rel_err ascending; the name.
    assert_eq!(sort_by(&b, "time").await, "ascending");
    let times = column(&b, "data-time-ms").await;
    let measured = rows.iter().filter(|r| r["status"] == "measured").count();
    assert_eq!(times.len(), measured);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(sort_by(&b, "time").await, "descending");
    let times = column(&b, "data-time-ms").await;
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    assert_eq!(sort_by(&b, "rel-err").await, "ascending");
    let errors = column(&b, "data-rel-err").await;
    assert!(errors.windows(2).all(|w| w[0] <= w[1]), "{errors:?}");
    assert_eq!(
        table_rows(&b, "data-method").await[0].0,
        "full",
        "exact attention has the least error"
    );
    let time_header = b
        .client
        .find(Locator::XPath(
            "//button[@data-testid='sort-time']/ancestor::th",
        ))
        .await
        .expect("time header");
    assert_eq!(
        time_header
            .attr("aria-sort")
            .await
            .ok()
            .flatten()
            .as_deref(),
        Some("none"),
        "only the sorted column says how"
    );
    assert_eq!(sort_by(&b, "name").await, "ascending");
    let names: Vec<String> = {
        let mut v = Vec::new();
        for link in b
            .client
            .find_all(Locator::Css(
                "[data-testid='compare-table'] tbody th.method a",
            ))
            .await
            .expect("names")
        {
            v.push(link.text().await.unwrap_or_default().to_lowercase());
        }
        v
    };
    let mut expect = names.clone();
    expect.sort();
    assert_eq!(names, expect);
    assert_eq!(sort_by(&b, "time").await, "ascending");

    // The recommendations: every scenario of the survey, links that resolve.
    let scenarios = b
        .client
        .find_all(Locator::Css(
            "[data-testid='recommendations'] tr[data-scenario]",
        ))
        .await
        .expect("scenarios");
    assert_eq!(scenarios.len(), RECOMMENDATIONS.len());
    let text = b
        .testid("recommendations")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        text.contains("Long sequences (>512)") && text.contains("Run this comparison at n = 1024"),
        "{text}"
    );
    links_resolve(&b).await;
    b.client
        .execute(
            "window.scrollTo(0, 0); document.querySelector('.table-scroll').scrollLeft = 0;",
            vec![],
        )
        .await
        .expect("scroll");
    b.screenshot("compare.png").await;

    // A row's link opens its explorer with the same settings.
    b.testid("explore-longformer")
        .await
        .click()
        .await
        .expect("follow the link");
    let m = b
        .measurement("Longformer in the explorer", |m| {
            m["method"] == "longformer"
        })
        .await;
    assert_eq!(
        (m["n"].as_u64(), m["d"].as_u64(), m["seed"].as_u64()),
        (Some(n), Some(d), Some(seed))
    );
    let row = rows.iter().find(|r| r["method"] == "longformer").unwrap();
    for key in [
        "inputs_digest",
        "flops",
        "bytes",
        "flops_algorithmic",
        "params",
    ] {
        assert_eq!(m[key], row[key], "{key}");
    }
    let url = b.client.current_url().await.expect("url");
    assert_eq!(url.path(), "/attention", "{url}");

    // The route reloaded from the static build: the settings from the URL,
    // a row per method, and a run.
    b.goto_path(&format!("/compare?{query}")).await;
    b.client.refresh().await.expect("reload");
    let shown_n = b
        .testid("control-n")
        .await
        .prop("value")
        .await
        .ok()
        .flatten();
    assert_eq!(shown_n, Some(n.to_string()));
    assert_eq!(
        table_rows(&b, "data-state").await.len(),
        MethodId::ALL.len()
    );
    b.testid("compare-run")
        .await
        .click()
        .await
        .expect("Run again");
    let again = comparison_done(&b, "the comparison after a reload").await;
    check_rows(&again, "gpu");
    for (a, z) in rows.iter().zip(&again) {
        for key in ["inputs_digest", "flops", "bytes"] {
            assert_eq!(a[key], z[key], "{}: {key}", a["method"]);
        }
    }

    // The first recommendation is for n > 512: its link reruns the
    // comparison at n = 1024 (here on local inputs, chosen through the
    // control: attention peaked near the diagonal, what windows assume),
    // where each of its methods is judged.
    b.testid("control-inputs")
        .await
        .select_by_value("local")
        .await
        .expect("local inputs");
    b.testid("rec-rerun")
        .await
        .click()
        .await
        .expect("the rerun link");
    let url = b.client.current_url().await.expect("url");
    assert_eq!(url.path(), "/compare", "{url}");
    let q = url.query().unwrap_or_default().to_string();
    assert!(q.contains("n=1024") && q.contains("inputs=local"), "{url}");
    assert!(
        table_rows(&b, "data-state")
            .await
            .iter()
            .all(|(_, s, _)| s == "pending")
    );
    b.testid("compare-run")
        .await
        .click()
        .await
        .expect("Run at n = 1024");
    let long = comparison_done(&b, "the comparison at n = 1024").await;
    check_rows(&long, "gpu");
    let long_sequences = b
        .client
        .find(Locator::Css(
            "[data-testid='recommendations'] tr[data-scenario='Long sequences (>512)']",
        ))
        .await
        .expect("the first recommendation");
    for method in ["longformer", "bigbird", "performer"] {
        let item = long_sequences
            .find(Locator::Css(&format!("li[data-method='{method}']")))
            .await
            .unwrap_or_else(|e| panic!("no finding for {method}: {e}"));
        let verdict = item
            .attr("data-verdict")
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let text = item.text().await.unwrap_or_default();
        // The verdict is what the row says: faster than exact attention
        // and better than the mean of V, or not.
        let row = long.iter().find(|r| r["method"] == method).unwrap();
        let supports = number(row, "time_vs_full") < 1.0
            && number(row, "rel_err") < number(row, "baseline_mean_v_rel_err");
        assert_eq!(
            verdict,
            if supports { "supports" } else { "questions" },
            "{method}: {text}"
        );
        assert!(
            text.contains("exact attention") && text.contains("mean of V"),
            "{text}"
        );
        eprintln!("n = 1024 on SwiftShader: {text}");
    }
    links_resolve(&b).await;
    b.client
        .execute(
            "document.querySelector(\"[data-testid='recommendations']\").scrollIntoView();",
            vec![],
        )
        .await
        .expect("scroll to the recommendations");
    b.screenshot("compare-recommendations.png").await;

    let errors = b.console_errors_beyond_deep_links().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn without_webgpu_the_comparison_runs_on_the_cpu_twin_and_cancels() {
    let b = Browser::open(false).await;
    // The bare route at the page's defaults: the CPU twin finishes every
    // method in a few seconds.
    b.goto_path("/compare").await;
    b.testid("compare-run").await.click().await.expect("Run");
    let started = Instant::now();
    let rows = comparison_done(&b, "the comparison at the defaults").await;
    let took = started.elapsed();
    log_rows("the CPU twin at the defaults", &rows);
    check_rows(&rows, "cpu");
    let summary = b
        .testid("compare-status")
        .await
        .text()
        .await
        .unwrap_or_default();
    eprintln!("defaults on the CPU twin: {summary} ({took:?} to the last row)");
    assert_eq!(
        (rows[0]["n"].as_u64(), rows[0]["d"].as_u64()),
        (Some(256), Some(64))
    );
    assert!(took < Duration::from_secs(30), "{took:?}: {summary}");

    let query = "n=128&d=32&seed=5";
    b.goto_path(&format!("/compare?{query}")).await;
    b.testid("compare-run").await.click().await.expect("Run");
    let rows = comparison_done(&b, "the CPU comparison").await;
    check_rows(&rows, "cpu");
    let badge = b
        .testid("backend-badge")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        badge.starts_with("CPU — WebGPU unavailable"),
        "badge: {badge}"
    );

    // The page's rows are the library's for the same settings: the same
    // inputs bit for bit, the same counts, the same errors up to f32
    // rounding (the page's exp is not glibc's).
    let (settings, issues) = flt_explorer::settings::compare::CompareSettings::from_query(query);
    assert!(issues.is_empty());
    let problem = settings.problem(flt_explorer::gpu::GpuRunOptions::default(), true);
    let native = pollster::block_on(flt_explorer::pipeline::compare::compare(
        &problem,
        &flt_explorer::pipeline::Backend::Cpu { reason: None },
        &flt_explorer::pipeline::Quiet,
        |_, _| {},
    ))
    .expect("the native comparison");
    for (page, native) in rows.iter().zip(&native) {
        let native = serde_json::to_value(native).unwrap();
        for key in [
            "inputs_digest",
            "flops",
            "bytes",
            "flops_algorithmic",
            "bytes_compulsory",
            "params",
            "status",
        ] {
            assert_eq!(page[key], native[key], "{}: {key}", native["method"]);
        }
        if native["status"] != "measured" {
            assert_eq!(page["error"], native["error"]);
            continue;
        }
        let (p, c) = (number(page, "rel_err"), number(&native, "rel_err"));
        assert!(
            (p - c).abs() <= 1e-4 * c.max(1e-3),
            "{}: page {p} vs native {c}",
            native["method"]
        );
    }
    b.screenshot("compare-cpu-fallback.png").await;

    // A long comparison shows its progress, and Cancel stops it.
    b.type_number("control-n", "2048").await;
    b.testid("compare-run")
        .await
        .click()
        .await
        .expect("Run at n = 2048");
    let started = Instant::now();
    loop {
        let status = b.testid("compare-status").await;
        let running = status.attr("data-state").await.ok().flatten().as_deref() == Some("running");
        if running
            && b.testid("compare-progress")
                .await
                .attr("value")
                .await
                .is_ok()
        {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the n = 2048 comparison never showed progress"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let running_rows = table_rows(&b, "data-state").await;
    assert!(
        running_rows.iter().any(|(_, s, _)| s == "running"),
        "{running_rows:?}"
    );
    b.testid("compare-cancel")
        .await
        .click()
        .await
        .expect("Cancel");
    let status = b.testid("compare-status").await;
    let started = Instant::now();
    while status.attr("data-state").await.ok().flatten().as_deref() != Some("cancelled") {
        assert!(
            started.elapsed() < WAIT,
            "Cancel did not stop the comparison"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done: usize = status
        .attr("data-done")
        .await
        .ok()
        .flatten()
        .and_then(|d| d.parse().ok())
        .unwrap_or(usize::MAX);
    assert!(done < MethodId::ALL.len(), "cancelled after {done} methods");
    // Nothing keeps running: the status and the rows stay put.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        status.attr("data-state").await.ok().flatten().as_deref(),
        Some("cancelled")
    );
    let after = table_rows(&b, "data-state").await;
    assert!(after.iter().all(|(_, s, _)| s != "running"), "{after:?}");
    let url = b.client.current_url().await.expect("url");
    assert!(url.query().unwrap_or_default().contains("n=2048"), "{url}");

    // Reloaded from the static build: the route renders and runs again.
    b.goto_path(&format!("/compare?{query}&causal=true")).await;
    b.client.refresh().await.expect("reload");
    b.testid("compare-run")
        .await
        .click()
        .await
        .expect("Run causal");
    let causal = comparison_done(&b, "the causal comparison").await;
    assert_eq!(causal.len(), MethodId::ALL.len());
    check_rows(&causal, "cpu");
    assert!(
        MethodId::ALL
            .iter()
            .filter(|m| m.info().causal_unsupported.is_some())
            .all(|m| refuses(*m, true)),
        "a method that cannot be causal is skipped in a causal table"
    );
    let skipped = b
        .client
        .find_all(Locator::Css(
            "[data-testid='compare-table'] tr[data-state='skipped']",
        ))
        .await
        .expect("skipped rows");
    assert_eq!(
        skipped.len(),
        MethodId::ALL.iter().filter(|m| refuses(**m, true)).count()
    );
    links_resolve(&b).await;

    let errors = b.console_errors_beyond_deep_links().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}
