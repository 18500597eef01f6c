//! The model-size lab (`/compression/model-size`) through its controls:
//! the model select, a flag and number fields of the configuration editor,
//! the precision and the calculator's bits; each time the measurement JSON
//! must equal what the library computes natively for the page's URL; the
//! chart is painted, a reload keeps the edited configuration, bad URL values
//! get messages, the console stays clean. Run with WebGPU and without: the
//! lab is arithmetic and must say "cpu" both times.

use flt_explorer::pipeline::Backend;
use flt_explorer::pipeline::model_size::run;
use flt_explorer::settings::model_size::ModelSizeSettings;

use super::harness::*;

const PATH: &str = "/compression/model-size";

/// The report the library computes for the page's query.
fn library(query: &str) -> Value {
    let (settings, _) = ModelSizeSettings::from_query(query);
    let report = run(&settings.problem(), &Backend::Cpu { reason: None }).expect("library run");
    serde_json::to_value(&report).expect("json")
}

/// The current URL's query.
async fn query(b: &Browser) -> String {
    let url = b.client.current_url().await.expect("url");
    url.query().unwrap_or_default().to_string()
}

/// `page` equals `native`: integers, strings and structure exactly, floats
/// to 1e-12 relative (serde_json's default float parser is not correctly
/// rounded, so the page's printed floats may come back one ulp away).
fn assert_same(page: &Value, native: &Value, path: &str) {
    match (page, native) {
        (Value::Object(a), Value::Object(b)) => {
            let (ka, kb): (Vec<_>, Vec<_>) = (a.keys().collect(), b.keys().collect());
            assert_eq!(ka, kb, "keys at {path}");
            for (k, v) in a {
                assert_same(v, &b[k], &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "length at {path}");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-12 * y.abs(),
                "{path}: page {x} vs library {y}"
            );
        }
        _ => assert_eq!(page, native, "at {path}"),
    }
}

/// The page's measurement equals the library's for the URL it shows.
async fn same_as_library(b: &Browser, m: &Value) {
    let q = query(b).await;
    assert_same(m, &library(&q), &format!("?{q}"));
}

async fn select(b: &Browser, id: &str, value: &str) {
    b.testid(id)
        .await
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("select {value} in {id}: {e}"));
}

async fn text(b: &Browser, id: &str) -> String {
    b.testid(id).await.text().await.unwrap_or_default()
}

async fn drive(webgpu: bool, screenshot: &str) {
    let b = Browser::open(webgpu).await;
    b.goto_path(&format!("{PATH}?model=bert-base")).await;
    let m = b
        .measurement("BERT-base", |m| m["model"] == "bert-base")
        .await;
    assert_eq!(m["params"], 109_482_240, "{m}");
    assert_eq!(
        (&m["family"], &m["backend"]),
        (&json!("model-size"), &json!("cpu"))
    );
    for key in [
        "bytes_fp32",
        "bytes_fp16",
        "bytes_int8",
        "bytes_int4",
        "bytes_binary",
    ] {
        assert!(m[key].as_u64().is_some_and(|b| b > 0), "{key}: {m}");
    }
    same_as_library(&b, &m).await;
    let badge = text(&b, "backend-badge").await;
    assert!(badge.starts_with("CPU — arithmetic"), "badge: {badge}");
    assert!(
        b.canvas_painted("model-size-chart").await,
        "the chart is not painted"
    );

    // A model through the select, then sharing off through its checkbox.
    select(&b, "model-select", "albert-base").await;
    let m = b
        .measurement("ALBERT-base", |m| m["model"] == "albert-base")
        .await;
    assert_eq!(m["params"], 11_683_584);
    same_as_library(&b, &m).await;
    b.testid("shared-layers")
        .await
        .click()
        .await
        .expect("click sharing");
    let m = b
        .measurement("ALBERT-base unshared", |m| {
            m["config"]["shared_layers"] == false
        })
        .await;
    assert_eq!(
        (&m["model"], &m["params"]),
        (&json!("custom"), &json!(89_650_176))
    );
    same_as_library(&b, &m).await;

    // Number fields: 24 layers and a wider embedding.
    b.type_number("layers", "24").await;
    let m = b
        .measurement("24 layers", |m| m["config"]["layers"] == 24)
        .await;
    same_as_library(&b, &m).await;
    b.type_number("embedding", "256").await;
    let m = b
        .measurement("E = 256", |m| {
            m["config"]["embedding"] == 256 && m["config"]["layers"] == 24
        })
        .await;
    same_as_library(&b, &m).await;
    let q = query(&b).await;
    assert_eq!(
        q, "model=albert-base&layers=24&embedding=256&shared-layers=false",
        "{q}"
    );
    let headline = b
        .testid("params")
        .await
        .attr("data-params")
        .await
        .ok()
        .flatten();
    assert_eq!(
        headline,
        Some(m["params"].to_string()),
        "the headline count"
    );
    assert!(
        b.testid("layers-preset")
            .await
            .text()
            .await
            .unwrap_or_default()
            .contains("12"),
        "the preset's value is shown beside an edited field"
    );

    // Precision and the calculator's bits.
    select(&b, "precision", "int4").await;
    let m = b
        .measurement("int4 headline", |m| m["precision"] == "int4")
        .await;
    assert_eq!(m["size_bytes"], m["bytes_int4"]);
    let total = |m: &Value| number(&m["combination"], "total_factor");
    assert!(
        (40.0..41.0).contains(&total(&m)),
        "survey example at INT8: {}",
        total(&m)
    );
    select(&b, "bits", "4").await;
    let m = b
        .measurement("calculator at 4 bits", |m| {
            m["combination"]["steps"][3]["label"]
                .as_str()
                .is_some_and(|l| l.contains("INT4"))
        })
        .await;
    assert!(
        (80.0..81.0).contains(&total(&m)),
        "survey example at INT4: {}",
        total(&m)
    );
    same_as_library(&b, &m).await;
    assert!(text(&b, "calculator-total").await.contains("80.4×"));
    assert!(b.canvas_painted("model-size-chart").await);

    // A reload keeps everything.
    let before = query(&b).await;
    b.client.refresh().await.expect("reload");
    let m = b
        .measurement("after reload", |m| m["config"]["embedding"] == 256)
        .await;
    assert_eq!(query(&b).await, before);
    same_as_library(&b, &m).await;

    // Screenshots of the edited configuration: the top, the chart, the
    // calculator.
    b.screenshot(screenshot).await;
    for (id, suffix) in [
        ("model-size-chart", "-chart.png"),
        ("calculator", "-calculator.png"),
    ] {
        b.client
            .execute(
                "document.querySelector(`[data-testid='${arguments[0]}']`).scrollIntoView()",
                vec![json!(id)],
            )
            .await
            .expect("scroll");
        b.screenshot(&screenshot.replace(".png", suffix)).await;
    }

    // Bad values in the URL: messages, nearest valid values, a running page.
    b.goto_path(&format!("{PATH}?model=gpt5&layers=0&heads=7&hidden=abc"))
        .await;
    let m = b
        .measurement("corrected settings", |m| m["config"]["layers"] == 1)
        .await;
    let issues = text(&b, "settings-issues").await;
    for expected in [
        "model=gpt5 is not a known model (known: bert-base, bert-large",
        "layers=0 is below the minimum 1; using 1",
        "hidden=abc is not a number; using bert-base's 768",
        "heads=7 does not divide the attention width 768; using 6",
    ] {
        assert!(
            issues.contains(expected),
            "missing «{expected}» in {issues}"
        );
    }
    assert_eq!(
        (&m["model"], &m["config"]["heads"]),
        (&json!("custom"), &json!(6))
    );
    assert!(!serde_json::to_string(&m).unwrap().contains("NaN"));
    assert!(b.canvas_painted("model-size-chart").await);

    // The static host answers the deep-linked document with 404.html and
    // status 404 (as GitHub Pages does); that is expected, nothing else.
    let document_404 = |e: &String| {
        e.starts_with(&format!("{}{PATH}?", b.base))
            && e.ends_with("the server responded with a status of 404 (Not Found)")
    };
    let errors: Vec<String> = b
        .console_errors()
        .await
        .into_iter()
        .filter(|e| !document_404(e))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn model_size_through_its_controls_with_webgpu() {
    drive(true, "model-size.png").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn model_size_through_its_controls_without_webgpu() {
    drive(false, "model-size-cpu.png").await;
}
