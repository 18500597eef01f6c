//! The quantization lab (`/compression/quantization`) through its real
//! controls: the weight quantizer with and without WebGPU (the page's
//! numbers against a native run of the library), the sweep of schemes, the
//! user's own `.npy` (and a broken one), bad URL values, and quantized
//! attention.

use super::harness::*;

const QUERY: &str =
    "format=int&bits=4&granularity=per-channel&inputs=heavy-tailed&rows=48&cols=160&seed=2";

/// The library's CPU report for the same settings.
fn native_quantization(query: &str) -> Value {
    use flt_explorer::pipeline::quantization::run;
    use flt_explorer::pipeline::{Backend, Quiet};
    use flt_explorer::settings::quantization::QuantSettings;
    let (s, issues) = QuantSettings::from_query(query);
    assert!(issues.is_empty(), "{issues:?}");
    let problem = s.problem(flt_explorer::gpu::GpuRunOptions {
        repeats: 1,
        ..Default::default()
    });
    let r = pollster::block_on(run(&problem, &Backend::Cpu { reason: None }, &Quiet))
        .expect("native run");
    // Through text, as the page's numbers arrive: serde_json's default
    // parser may round the last bit, the same way for both.
    serde_json::from_str(&serde_json::to_string(&r).expect("json")).expect("parse")
}

/// Scrolls the element `id` to the top of the window.
async fn scroll_to(b: &Browser, id: &str) {
    b.client
        .execute(
            "document.querySelector(`[data-testid='${arguments[0]}']`).scrollIntoView()",
            vec![json!(id)],
        )
        .await
        .expect("scroll");
}

async fn select(b: &Browser, id: &str, value: &str) {
    b.testid(id)
        .await
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("select {value} in {id}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn webgpu_quantizes_weights_sweeps_schemes_and_quantizes_attention() {
    let b = Browser::open(true).await;
    b.goto_path(&format!(
        "/compression/quantization?backend=gpu&qa-backend=gpu&{QUERY}"
    ))
    .await;
    let m = b.measurement("the GPU run", |m| m["rows"] == 48).await;
    assert_eq!(m["backend"], "gpu", "{m}");
    assert_eq!(m["kernel"], "quantize");
    assert!(number(&m, "gpu_cpu_max_abs_err") == 0.0, "{m}");
    let native = native_quantization(QUERY);
    for key in [
        "bits",
        "format",
        "mode",
        "granularity",
        "group_size",
        "bytes_before",
        "bytes_after",
        "bits_per_weight",
    ] {
        assert_eq!(m[key], native[key], "{key}");
    }
    for key in ["mse", "sqnr_db", "max_abs_err"] {
        let (page, cli) = (number(&m, key), number(&native, key));
        assert!(
            (page - cli).abs() <= 1e-4 * cli.abs(),
            "{key}: GPU {page} vs twin {cli}"
        );
    }
    assert!(b.canvas_painted("histogram").await, "histogram");
    assert!(b.canvas_painted("error-map").await, "error map");
    scroll_to(&b, "quant-figures").await;
    b.screenshot("quantization-webgpu.png").await;

    // The controls: fp8 E4M3 through the format selector, then group-wise.
    select(&b, "control-format", "fp8-e4m3").await;
    let m = b.measurement("fp8", |m| m["format"] == "fp8-e4m3").await;
    assert_eq!(m["bits"], 8);
    select(&b, "control-granularity", "group").await;
    b.type_number("control-group-size", "32").await;
    let m = b
        .measurement("fp8 groups of 32", |m| {
            m["granularity"] == "group" && m["group_size"] == 32
        })
        .await;
    assert_eq!(m["format"], "fp8-e4m3");
    let url = b.client.current_url().await.expect("url");
    assert!(url.as_str().contains("group-size=32"), "{url}");

    // The sweep: 19 schemes, drawn as they arrive, and tabled.
    b.testid("quant-sweep-start")
        .await
        .click()
        .await
        .expect("start the sweep");
    let started = Instant::now();
    loop {
        let chart = b.testid("sqnr-chart").await;
        let points = chart.attr("data-points").await.ok().flatten();
        let state = b
            .testid("quant-sweep-status")
            .await
            .attr("data-state")
            .await
            .ok()
            .flatten();
        if points.as_deref() == Some("19") && state.as_deref() == Some("done") {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "sweep: {points:?} points, {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let table = b
        .testid("scheme-table")
        .await
        .text()
        .await
        .unwrap_or_default();
    for row in [
        "int8 symmetric per-tensor",
        "int2 symmetric group of 32",
        "binary per-channel",
        "bf16",
    ] {
        assert!(table.contains(row), "missing {row} in {table}");
    }
    assert!(b.canvas_painted("sqnr-chart").await, "SQNR chart");
    scroll_to(&b, "quant-sweep-start").await;
    b.screenshot("quantization-sweep.png").await;

    // Quantized attention: 4-bit Q, K, V by default; 8 bits cost less.
    let qa = b
        .measurement_of("qa-status", "qa-measurement", "quantized attention", |m| {
            m["qkv_bits"] == 4
        })
        .await;
    assert_eq!(qa["backend"], "gpu", "{qa}");
    let four = number(&qa, "rel_err_vs_f32");
    assert!(four > 1e-3 && number(&qa, "rel_err") > 0.0, "{qa}");
    b.type_number("qa-qkv-bits", "8").await;
    let qa = b
        .measurement_of("qa-status", "qa-measurement", "8-bit Q, K, V", |m| {
            m["qkv_bits"] == 8
        })
        .await;
    let eight = number(&qa, "rel_err_vs_f32");
    assert!(eight < four / 4.0, "8 bits {eight} vs 4 bits {four}");
    assert!(
        b.canvas_painted("qa-heatmap").await,
        "quantized attention map"
    );
    let url = b.client.current_url().await.expect("url");
    assert!(
        url.as_str().contains("qa-qkv-bits=8") && url.as_str().contains("group-size=32"),
        "each section keeps the other's settings: {url}"
    );
    scroll_to(&b, "qattention-section").await;
    b.screenshot("quantized-attention.png").await;

    let errors = b.console_errors_beyond_deep_links().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn without_webgpu_the_twin_quantizes_the_same_and_files_are_checked() {
    let b = Browser::open(false).await;
    b.goto_path(&format!("/compression/quantization?{QUERY}"))
        .await;
    let m = b.measurement("the CPU run", |m| m["rows"] == 48).await;
    assert_eq!(m["backend"], "cpu", "{m}");
    // The twin in wasm and natively: the same numbers, bit for bit.
    let native = native_quantization(QUERY);
    for key in [
        "mse",
        "sqnr_db",
        "max_abs_err",
        "bytes_after",
        "sqnr_law_db",
    ] {
        assert_eq!(m[key], native[key], "{key}");
    }

    // A bad URL value: a clear message, the nearest valid value runs.
    b.goto_path("/compression/quantization?bits=12&rows=16&cols=16")
        .await;
    let m = b
        .measurement("the corrected bits", |m| m["rows"] == 16 && m["bits"] == 8)
        .await;
    assert_eq!(m["format"], "int");
    let issues = b
        .testid("settings-issues")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        issues.contains("bits=12 is above the maximum 8; using 8"),
        "{issues}"
    );

    // The user's own matrix through the file input.
    let dir = std::env::temp_dir().join(format!("flt-quant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("mine.npy");
    let w =
        ndarray::Array2::from_shape_fn((5, 7), |(i, j)| (i as f32 - 2.0) * 0.1 + j as f32 * 0.01);
    flt_explorer::inputs::write_npy(&good, &w).expect("write npy");
    let input = b.testid("weights-file").await;
    input
        .send_keys(good.to_str().expect("path"))
        .await
        .expect("choose the file");
    let m = b
        .measurement("the user's matrix", |m| m["inputs"] == "mine.npy")
        .await;
    assert_eq!((m["rows"].as_u64(), m["cols"].as_u64()), (Some(5), Some(7)));
    // A file that is not an .npy: a message, and the page keeps working.
    let bad = dir.join("broken.npy");
    std::fs::write(&bad, b"definitely not numpy").expect("write");
    b.testid("weights-file")
        .await
        .send_keys(bad.to_str().expect("path"))
        .await
        .expect("choose the bad file");
    let error = b
        .testid("weights-file-error")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(error.contains("broken.npy"), "{error}");
    b.testid("weights-file-clear")
        .await
        .click()
        .await
        .expect("back to seeded weights");
    let m = b
        .measurement("seeded weights again", |m| m["inputs"] == "gaussian")
        .await;
    assert_eq!(m["rows"], 16);
    b.screenshot("quantization-cpu-fallback.png").await;
    let errors = b.console_errors_beyond_deep_links().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}
