//! The QAT section of the quantization page through its controls: Train on
//! WebGPU (SwiftShader) and on the CPU twin (no WebGPU), the accuracy chart
//! painted, QAT at least PTQ at 2 bits, the CPU run's numbers equal to a
//! native run of the library with the same settings, bad parameters
//! reported, no console errors.

use super::harness::*;

use flt_explorer::pipeline::qat::run;
use flt_explorer::pipeline::{Backend, Quiet};
use flt_explorer::settings::qat::QatSettings;

const PAGE: &str = "/compression/quantization";

/// The native CPU twin's report for the section's query.
fn native(query: &str) -> Value {
    let (settings, issues) = QatSettings::from_query(query);
    assert!(issues.is_empty(), "{issues:?}");
    let report = pollster::block_on(run(
        &settings.problem(),
        &Backend::Cpu { reason: None },
        &Quiet,
    ))
    .expect("native CPU run");
    // Through text, as the page's numbers come: serde_json's parser may land
    // an ulp off the printed value, the same way for both.
    serde_json::from_str(&serde_json::to_string(&report).expect("json")).expect("parse")
}

/// Console errors, except the static host's 404 status for the deep-linked
/// page itself (the document is 404.html, a copy of the app: expected).
async fn console_errors(b: &Browser) -> Vec<String> {
    let page = format!("{}{PAGE}", b.base);
    b.console_errors()
        .await
        .into_iter()
        .filter(|e| {
            !(e.starts_with(&page)
                && e.ends_with("the server responded with a status of 404 (Not Found)"))
        })
        .collect()
}

/// The report without what depends on the clock.
fn untimed(m: &Value) -> Value {
    let mut figures = json!({});
    for key in [
        "seed",
        "task",
        "hidden",
        "params",
        "epochs",
        "qat_epochs",
        "f32_test_accuracy",
        "f32_test_loss",
        "f32_train_loss",
        "params_digest",
    ] {
        figures[key] = m[key].clone();
    }
    let bits: Vec<Value> = m["per_bits"]
        .as_array()
        .expect("per_bits")
        .iter()
        .map(|b| {
            let mut b = b.clone();
            b.as_object_mut().expect("object").remove("qat_epoch_ms");
            b
        })
        .collect();
    figures["per_bits"] = Value::Array(bits);
    figures
}

/// PTQ and QAT test accuracy at `bits`.
fn accuracies(m: &Value, bits: u64) -> (f64, f64) {
    let b = m["per_bits"]
        .as_array()
        .expect("per_bits")
        .iter()
        .find(|b| b["bits"] == bits)
        .unwrap_or_else(|| panic!("no {bits} bits in {m}"));
    (
        number(b, "ptq_test_accuracy"),
        number(b, "qat_test_accuracy"),
    )
}

async fn train(b: &Browser, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    b.testid("qat-run")
        .await
        .click()
        .await
        .expect("click Train");
    b.measurement_of("qat-status", "qat-measurement", what, ok)
        .await
}

async fn show_section(b: &Browser) {
    b.client
        .execute(
            "document.querySelector(\"[data-testid='qat-section']\").scrollIntoView();",
            vec![],
        )
        .await
        .expect("scroll");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn webgpu_qat_trains_and_recovers_at_two_bits() {
    let b = Browser::open(true).await;
    b.goto_path(&format!("{PAGE}?backend=gpu&qat-seed=2")).await;
    let state = b
        .testid("qat-status")
        .await
        .attr("data-state")
        .await
        .ok()
        .flatten();
    assert_eq!(
        state.as_deref(),
        Some("idle"),
        "the section waits for Train"
    );
    b.testid("qat-run")
        .await
        .click()
        .await
        .expect("click Train");
    // The charts fill in while it trains.
    let started = Instant::now();
    let live = loop {
        let state = b
            .testid("qat-status")
            .await
            .attr("data-state")
            .await
            .ok()
            .flatten();
        let painted = b
            .testid("qat-loss-chart")
            .await
            .attr("data-painted")
            .await
            .ok()
            .flatten();
        match (state.as_deref(), painted.as_deref()) {
            (Some("running"), Some("true")) => break true,
            (Some("done" | "error"), _) => break false,
            _ if started.elapsed() > WAIT => break false,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    assert!(live, "the loss chart was not drawn while training");
    show_section(&b).await;
    b.screenshot("qat-training.png").await;
    let m = b
        .measurement_of("qat-status", "qat-measurement", "the GPU run", |m| {
            m["seed"] == 2
        })
        .await;
    assert_eq!(m["backend"], "gpu", "{m}");
    assert_eq!(m["kernel"], "mlp");
    let (ptq, qat) = accuracies(&m, 2);
    assert!(qat >= ptq, "QAT {qat} < PTQ {ptq} at 2 bits");
    assert!(number(&m, "f32_test_accuracy") > 0.9, "{m}");
    // The quantized weights are the twin's, bit for bit.
    for (name, value) in m["cross_checks"].as_object().expect("cross_checks") {
        if name.contains("differing in bits") {
            assert_eq!(value.as_f64(), Some(0.0), "{name}");
        }
    }
    // The GPU's accuracies are the twin's up to a few of 2048 examples.
    let cpu = native("qat-seed=2");
    let slack = 4.0 / 2048.0;
    assert!((number(&m, "f32_test_accuracy") - number(&cpu, "f32_test_accuracy")).abs() <= slack);
    for bits in [4, 3, 2] {
        let (g, c) = (accuracies(&m, bits), accuracies(&cpu, bits));
        assert!(
            (g.0 - c.0).abs() <= slack && (g.1 - c.1).abs() <= 2.0 * slack,
            "{bits} bits: GPU {g:?}, CPU {c:?}"
        );
    }
    assert!(
        b.canvas_painted("qat-chart").await,
        "the accuracy chart is not painted"
    );
    assert!(
        b.canvas_painted("qat-loss-chart").await,
        "the loss chart is not painted"
    );
    let badge = b
        .testid("qat-backend")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(badge.starts_with("WebGPU — "), "badge: {badge}");
    let rows = b
        .client
        .find_all(Locator::Css("[data-testid='qat-table'] tbody tr"))
        .await
        .expect("table rows");
    assert_eq!(rows.len(), 4, "f32 and three widths");
    show_section(&b).await;
    b.screenshot("qat.png").await;
    let errors = console_errors(&b).await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn cpu_fallback_qat_equals_the_native_library() {
    let b = Browser::open(false).await;
    b.goto_path(PAGE).await;
    // The seed through its field: the query follows.
    b.type_number("qat-control-seed", "3").await;
    let started = Instant::now();
    let m = train(&b, "the CPU run", |m| m["seed"] == 3).await;
    let elapsed = started.elapsed();
    eprintln!(
        "CPU twin in the page: {elapsed:?} (report: {} ms)",
        m["total_ms"]
    );
    let url = b.client.current_url().await.expect("url");
    assert!(url.as_str().contains("qat-seed=3"), "{url}");
    assert_eq!(m["backend"], "cpu", "{m}");
    let badge = b
        .testid("qat-backend")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(badge.starts_with("CPU — "), "badge: {badge}");
    let (ptq, qat) = accuracies(&m, 2);
    assert!(qat >= ptq, "QAT {qat} < PTQ {ptq} at 2 bits");
    // WebAssembly and native: the same bits.
    assert_eq!(untimed(&m), untimed(&native("qat-seed=3")));
    assert!(b.canvas_painted("qat-chart").await);

    // Bad parameters: a message, the nearest valid value, nothing run.
    b.goto_path(&format!("{PAGE}?qat-hidden=1000&qat-epochs=x"))
        .await;
    let issues = b
        .testid("qat-issues")
        .await
        .text()
        .await
        .unwrap_or_default();
    for expected in [
        "qat-hidden=1000 is above the maximum 128; using 128",
        "qat-epochs=x is not a number; using the default",
    ] {
        assert!(
            issues.contains(expected),
            "missing «{expected}» in {issues}"
        );
    }
    let field = b.testid("qat-control-hidden").await;
    assert_eq!(
        field.prop("value").await.ok().flatten().as_deref(),
        Some("128")
    );
    let errors = console_errors(&b).await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}
