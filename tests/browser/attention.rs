//! The attention explorer through its controls.

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn webgpu_explorer_runs_exact_attention_through_its_controls() {
    let b = Browser::open(true).await;
    b.goto("?backend=gpu&method=full&n=64&d=16&seed=3").await;
    let m = b.measurement("the first GPU run", |m| m["n"] == 64).await;
    assert_eq!(m["backend"], "gpu", "{m}");
    assert_eq!(m["kernel"], "fused");
    assert!(number(&m, "rel_err") < 1e-4, "{m}");
    assert!(number(&m, "gpu_cpu_max_abs_err") < 1e-5, "{m}");
    assert!(number(&m, "time_ms") > 0.0);
    let badge = b
        .testid("backend-badge")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(badge.starts_with("WebGPU — "), "badge: {badge}");

    // n through the number field, then causal through the checkbox.
    b.type_number("control-n", "203").await;
    let m = b
        .measurement("n = 203", |m| m["n"] == 203 && m["causal"] == false)
        .await;
    assert!(number(&m, "rel_err") < 1e-4, "{m}");
    b.testid("control-causal")
        .await
        .click()
        .await
        .expect("click causal");
    let m = b
        .measurement("causal n = 203", |m| m["n"] == 203 && m["causal"] == true)
        .await;
    assert!(number(&m, "rel_err") < 1e-4, "{m}");
    assert!(
        m["cross_checks"]["materialized"].as_f64().unwrap_or(1.0) < 1e-5,
        "{m}"
    );
    let url = b.client.current_url().await.expect("url");
    assert!(
        url.as_str().contains("n=203") && url.as_str().contains("causal=true"),
        "{url}"
    );
    assert!(b.heatmap_painted().await, "the heatmap is not painted");

    // The slider moves n over powers of two: 203 sits at 2^8; one step right is 512.
    b.testid("control-n-slider")
        .await
        .send_keys(&char::from(Key::Right).to_string())
        .await
        .expect("slider");
    let m = b.measurement("n = 512", |m| m["n"] == 512).await;
    assert!(number(&m, "rel_err") < 1e-4, "{m}");
    b.type_number("control-n", "1024").await;
    let m = b.measurement("n = 1024", |m| m["n"] == 1024).await;
    assert!(number(&m, "rel_err") < 1e-4, "{m}");
    let caption = b
        .client
        .find(Locator::Css(".heatmap .caption"))
        .await
        .expect("caption")
        .text()
        .await
        .unwrap_or_default();
    assert!(
        caption.contains("Pooled on the GPU") && caption.contains("2×2"),
        "caption: {caption}"
    );
    assert!(b.heatmap_painted().await);
    b.testid("scale-log")
        .await
        .click()
        .await
        .expect("log scale");
    b.screenshot("explorer-webgpu.png").await;

    // Invalid settings in the URL: clear messages, nearest valid values.
    b.goto("?method=nope&n=0&d=100000").await;
    let m = b
        .measurement("the corrected settings", |m| m["n"] == 1 && m["d"] == 256)
        .await;
    assert_eq!(m["method"], "full");
    let issues = b
        .testid("settings-issues")
        .await
        .text()
        .await
        .unwrap_or_default();
    for expected in [
        "n=0 is below the minimum 1; using 1",
        "d=100000 is above the maximum 256; using 256",
        "method=nope is not a known method",
    ] {
        assert!(
            issues.contains(expected),
            "missing «{expected}» in {issues}"
        );
    }
    b.goto("?n=abc").await;
    let m = b
        .measurement("the default n", |m| m["n"] == 256 && m["d"] == 64)
        .await;
    assert!(number(&m, "rel_err") < 1e-4);
    let issues = b
        .testid("settings-issues")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(issues.contains("n=abc is not a number"), "{issues}");

    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn without_webgpu_the_cpu_twin_gives_the_same_numbers() {
    let query = "method=full&n=128&d=32&seed=5&causal=true";
    let b = Browser::open(false).await;
    b.goto(&format!("?{query}")).await;
    let m = b.measurement("the CPU run", |m| m["n"] == 128).await;
    assert_eq!(m["backend"], "cpu", "{m}");
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
    // Same seed, same inputs, bit for bit; the same counts; and the same
    // errors up to f32 rounding (the page's exp is not glibc's).
    let native = native_cpu(query);
    for key in ["inputs_digest", "flops", "bytes", "checked_rows"] {
        assert_eq!(m[key], native[key], "{key}");
    }
    for key in ["rel_err", "max_abs_err"] {
        let (page, cli) = (number(&m, key), number(&native, key));
        assert!(
            page < 1e-6 && (page - cli).abs() <= 0.05 * cli,
            "{key}: page {page} vs native {cli}"
        );
    }
    assert!(b.heatmap_painted().await, "the heatmap is not painted");
    b.screenshot("explorer-cpu-fallback.png").await;
    b.testid("download-json")
        .await
        .click()
        .await
        .expect("download");

    // A long CPU run shows progress, and the next change supersedes it.
    b.type_number("control-n", "8192").await;
    let started = Instant::now();
    loop {
        let status = b.testid("run-status").await;
        let running = status.attr("data-state").await.ok().flatten().as_deref() == Some("running");
        let text = status.text().await.unwrap_or_default();
        if running
            && text.contains("CPU twin")
            && b.client
                .find(Locator::Css("[data-testid='run-status'] progress"))
                .await
                .is_ok()
        {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the n = 8192 run never showed progress ({text})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.type_number("control-n", "100").await;
    let m = b
        .measurement("n = 100, superseding n = 8192", |m| m["n"] == 100)
        .await;
    assert_eq!(m["backend"], "cpu");
    let superseded = b
        .testid("run-status")
        .await
        .attr("data-superseded")
        .await
        .ok()
        .flatten();
    assert_eq!(
        superseded.as_deref(),
        Some("1"),
        "the n = 8192 run should have stopped early"
    );

    // Every input generator gives the same bits in the page as in the CLI
    // (explicit f64 sums and libm, no fused multiply-adds that differ
    // between wasm32 and native).
    for inputs in ["gaussian", "low-rank", "clustered", "local"] {
        let query = format!("method=full&n=64&d=8&seed=1&inputs={inputs}");
        b.goto(&format!("?{query}")).await;
        let m = b
            .measurement(inputs, |m| m["inputs"] == inputs && m["n"] == 64)
            .await;
        assert_eq!(
            m["inputs_digest"],
            native_cpu(&query)["inputs_digest"],
            "{inputs}"
        );
    }
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn sparse_methods_through_the_method_selector() {
    let b = Browser::open(true).await;
    b.goto("?backend=gpu&method=full&n=320&d=16&seed=2&causal=true")
        .await;
    b.measurement("exact attention", |m| m["n"] == 320).await;
    for method in [
        "longformer",
        "sparse-strided",
        "sparse-fixed",
        "bigbird",
        "reformer",
    ] {
        b.testid("control-method")
            .await
            .select_by_value(method)
            .await
            .expect("select a method");
        let m = b.measurement(method, |m| m["method"] == method).await;
        eprintln!(
            "{method}: {} {} rel_err {} mass {}",
            m["backend"], m["kernel_variant"], m["rel_err"], m["mass_in_pattern"]
        );
        assert_eq!(m["backend"], "gpu", "{method}: {m}");
        assert_eq!(m["kernel"], "tiled", "{method}");
        assert_eq!(m["causal"], true, "{method}: causal carries over");
        assert!(number(&m, "gpu_cpu_max_abs_err") < 1e-5, "{method}: {m}");
        let (pairs, tiles) = (number(&m, "pattern_pairs"), number(&m, "tile_pairs"));
        assert!(
            pairs > 0.0 && pairs < 320.0 * 321.0 / 2.0 && tiles >= pairs,
            "{method}: {m}"
        );
        let mass = number(&m, "mass_in_pattern");
        assert!(mass > 0.0 && mass <= 1.0 + 1e-9, "{method}: {mass}");
        let pattern = b.testid("pattern").await;
        assert_eq!(
            pattern.attr("data-painted").await.ok().flatten().as_deref(),
            Some("true"),
            "{method}"
        );
        assert!(b.heatmap_painted().await, "{method}: weights not painted");
    }
    // Reformer's own knobs: shared-QK through its checkbox, rounds through its field.
    b.testid("control-shared-qk")
        .await
        .click()
        .await
        .expect("shared-qk");
    let m = b
        .measurement("shared-QK", |m| m["params"]["shared-qk"] == 1)
        .await;
    assert!(number(&m, "gpu_cpu_max_abs_err") < 1e-5, "{m}");
    b.type_number("control-rounds", "4").await;
    let m = b
        .measurement("4 rounds", |m| m["params"]["rounds"] == 4)
        .await;
    assert!(number(&m, "gpu_cpu_max_abs_err") < 1e-5, "{m}");
    let strips = b.testid("lsh-buckets").await;
    assert!(
        !strips
            .attr("class")
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
            .contains("hidden")
    );
    b.screenshot("explorer-reformer.png").await;

    // BigBird with a window knob typed in, larger n: pooled views.
    b.goto("?backend=gpu&method=bigbird&n=1024&d=32&seed=3&block=32&random=2&window-blocks=3&global-blocks=1")
        .await;
    let m = b
        .measurement("BigBird n = 1024", |m| {
            m["method"] == "bigbird" && m["n"] == 1024
        })
        .await;
    assert!(number(&m, "gpu_cpu_max_abs_err") < 1e-5, "{m}");
    b.type_number("control-random", "0").await;
    let m0 = b
        .measurement("BigBird without random blocks", |m| {
            m["params"]["random"] == 0
        })
        .await;
    assert!(number(&m0, "pattern_pairs") < number(&m, "pattern_pairs"));
    b.testid("control-random")
        .await
        .clear()
        .await
        .expect("clear");
    b.type_number("control-random", "2").await;
    b.measurement("BigBird again", |m| m["params"]["random"] == 2)
        .await;
    b.screenshot("explorer-bigbird.png").await;

    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn low_rank_and_kernel_methods_and_the_error_law() {
    let b = Browser::open(true).await;
    b.goto("?backend=gpu&method=linformer&n=128&d=16&seed=4")
        .await;
    let m = b
        .measurement("Linformer", |m| m["method"] == "linformer")
        .await;
    assert_eq!(m["backend"], "gpu", "{m}");
    assert!(number(&m, "gpu_cpu_max_abs_err") < 1e-4, "{m}");
    let causal = b.testid("control-causal").await;
    assert_eq!(
        causal.prop("disabled").await.ok().flatten().as_deref(),
        Some("true"),
        "Linformer cannot be causal"
    );
    let heading = b
        .client
        .find(Locator::Css(".pattern h2"))
        .await
        .expect("heading")
        .text()
        .await
        .unwrap_or_default();
    assert_eq!(heading, "The factor it computes");
    // Both kinds of cost, the reference and the baselines are on the page.
    for id in [
        "flops-algorithmic",
        "flops",
        "bytes-compulsory",
        "bytes",
        "baselines",
        "reference",
    ] {
        let text = b.testid(id).await.text().await.unwrap_or_default();
        assert!(!text.trim().is_empty(), "{id} is empty");
    }
    assert_eq!(m["param_choices"]["projection"], "mean-pool", "{m}");
    // The untrained Gaussian projection does not beat outputting zeros, and
    // the page says so.
    b.testid("control-projection")
        .await
        .select_by_value("gaussian")
        .await
        .expect("projection");
    let g = b
        .measurement("Gaussian projection", |m| {
            m["param_choices"]["projection"] == "gaussian"
        })
        .await;
    assert!(
        number(&g, "rel_err") > number(&g, "baseline_zero_rel_err"),
        "{g}"
    );
    let verdict = b.testid("rel-err").await.text().await.unwrap_or_default();
    assert!(
        verdict.contains("no better than outputting zeros"),
        "{verdict}"
    );
    assert_eq!(
        b.testid("pattern")
            .await
            .attr("data-painted")
            .await
            .ok()
            .flatten()
            .as_deref(),
        Some("true")
    );

    for method in [
        "synthesizer-dense",
        "synthesizer-random",
        "nystrom",
        "linear",
        "cosformer",
    ] {
        b.testid("control-method")
            .await
            .select_by_value(method)
            .await
            .expect("select a method");
        let m = b.measurement(method, |m| m["method"] == method).await;
        assert_eq!(m["backend"], "gpu", "{method}: {m}");
        assert!(number(&m, "gpu_cpu_max_abs_err") < 1e-4, "{method}: {m}");
        assert!(
            b.heatmap_painted().await,
            "{method}: implied matrix not painted"
        );
        if method == "nystrom" {
            assert!(number(&m, "pinv_residual").is_finite(), "{m}");
            let text = b
                .testid("pinv-residual")
                .await
                .text()
                .await
                .unwrap_or_default();
            assert!(text.contains("ÃZÃ"), "{text}");
        }
    }
    b.testid("control-inputs")
        .await
        .select_by_value("low-rank")
        .await
        .expect("inputs");
    let m = b
        .measurement("low-rank inputs", |m| m["inputs"] == "low-rank")
        .await;
    assert!(number(&m, "rel_err").is_finite());

    // Performer at a small Q, K scale, then its error law through the button.
    b.testid("control-method")
        .await
        .select_by_value("performer")
        .await
        .expect("performer");
    b.measurement("Performer", |m| m["method"] == "performer")
        .await;
    b.testid("control-inputs")
        .await
        .select_by_value("gaussian")
        .await
        .expect("inputs");
    b.measurement("Gaussian inputs", |m| {
        m["method"] == "performer" && m["inputs"] == "gaussian"
    })
    .await;
    b.type_number("control-qk-scale", "0.25").await;
    let m = b
        .measurement("qk-scale 0.25", |m| m["qk_scale"] == 0.25)
        .await;
    assert!(number(&m, "gpu_cpu_max_abs_err") < 1e-4, "{m}");
    b.testid("sweep-start").await.click().await.expect("sweep");
    let started = Instant::now();
    let slope = loop {
        let status = b.testid("sweep-status").await;
        match status.attr("data-state").await.ok().flatten().as_deref() {
            Some("done") => {
                break status
                    .attr("data-slope")
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default();
            }
            Some("error") => panic!("sweep failed: {}", status.text().await.unwrap_or_default()),
            _ => {}
        }
        assert!(started.elapsed() < WAIT, "the sweep did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let summary = b
        .testid("sweep-status")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        summary.contains("Baselines: mean of V") && summary.contains("random draws"),
        "{summary}"
    );
    let slope: f64 = slope.parse().expect("a fitted slope");
    assert!(
        (-0.8..=-0.25).contains(&slope),
        "Performer's error-law slope {slope}"
    );
    let points = b
        .testid("error-law")
        .await
        .attr("data-points")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert_eq!(points, "10", "budgets 2 … 1024");
    b.client
        .execute("document.querySelector(\"[data-testid='error-law']\").scrollIntoView({block: 'center'})", vec![])
        .await
        .expect("scroll");
    b.screenshot("explorer-performer.png").await;

    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn deep_links_and_reloads_work_from_a_static_host() {
    let b = Browser::open(false).await;
    // The host answers a sub-route with 404.html, a copy of the app.
    let (status, not_found) = http_get(&b.base, "/attention?method=longformer").await;
    let (index_status, index) = http_get(&b.base, "/").await;
    assert_eq!((status, index_status), (404, 200));
    assert_eq!(not_found, index, "dist/404.html is a copy of index.html");

    // A deep link opened directly runs with its settings ...
    let query = "method=longformer&n=128&d=16";
    let ours = |m: &Value| m["method"] == "longformer" && m["n"] == 128 && m["d"] == 16;
    b.goto_path(&format!("/attention?{query}")).await;
    let m = b.measurement("the deep link", ours).await;
    let native = native_cpu(query);
    for key in ["inputs_digest", "params", "pattern_pairs", "flops", "bytes"] {
        assert_eq!(m[key], native[key], "{key}");
    }
    let link = b.testid("lab-attention").await;
    assert_eq!(
        link.attr("aria-current").await.ok().flatten().as_deref(),
        Some("page"),
        "the navigation marks the lab shown"
    );
    b.screenshot("deep-link-attention.png").await;

    // ... and again after a reload (a fresh document from the host).
    b.client
        .execute("window.beforeReload = true;", vec![])
        .await
        .expect("mark the document");
    b.client.refresh().await.expect("reload");
    let fresh = b
        .client
        .execute("return window.beforeReload === undefined;", vec![])
        .await
        .expect("read the mark");
    assert_eq!(fresh, Value::Bool(true), "the page was not reloaded");
    let m = b.measurement("the reloaded deep link", ours).await;
    assert_eq!(m["inputs_digest"], native["inputs_digest"]);

    // The explorer owns its query: a control rewrites it on the same path.
    b.type_number("control-n", "64").await;
    b.measurement("n = 64 on /attention", |m| {
        m["method"] == "longformer" && m["n"] == 64
    })
    .await;
    let url = b.client.current_url().await.expect("url");
    assert_eq!(url.path(), "/attention", "{url}");
    assert!(url.query().unwrap_or_default().contains("n=64"), "{url}");

    // An old link (`/` with the query) still reproduces its run.
    let old = "method=full&n=64&d=16&seed=1&causal=true";
    b.goto(&format!("?{old}")).await;
    let m = b
        .measurement("the old link", |m| {
            m["method"] == "full" && m["n"] == 64 && m["causal"] == true
        })
        .await;
    let native = native_cpu(old);
    for key in ["inputs_digest", "flops", "bytes", "checked_rows", "seed"] {
        assert_eq!(m[key], native[key], "{key}");
    }

    // An address that is no lab says so and lists the labs.
    b.goto_path("/no-such-lab?n=64").await;
    let text = b.testid("not-found").await.text().await.unwrap_or_default();
    assert!(
        text.contains("/no-such-lab") && text.contains("Efficient attention"),
        "{text}"
    );

    // The host's 404 status for the deep-linked documents is expected;
    // nothing else.
    let document_404 = |e: &String| {
        ["/attention?", "/no-such-lab?"]
            .iter()
            .any(|path| e.starts_with(&format!("{}{path}", b.base)))
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
async fn memory_methods_through_the_method_selector() {
    let b = Browser::open(true).await;
    b.goto("?backend=gpu&method=full&n=512&d=32&seed=2&inputs=local")
        .await;
    b.measurement("exact attention", |m| m["n"] == 512).await;
    assert!(
        b.client
            .find(Locator::Css("[data-testid='effective-context']"))
            .await
            .is_err(),
        "no effective-context chart without a memory"
    );

    // Transformer-XL through the selector: causal turns on and stays on.
    b.testid("control-method")
        .await
        .select_by_value("transformer-xl")
        .await
        .expect("select transformer-xl");
    let m = b
        .measurement("Transformer-XL", |m| m["method"] == "transformer-xl")
        .await;
    assert_eq!(m["backend"], "gpu", "{m}");
    assert_eq!(m["kernel"], "tiled", "{m}");
    assert_eq!(m["causal"], true, "always causal: {m}");
    assert_eq!(m["params"]["segment"], 64, "{m}");
    assert!(number(&m, "gpu_cpu_max_abs_err") < 1e-5, "{m}");
    let xl64 = number(&m, "rel_err");
    assert!(xl64 < number(&m, "baseline_mean_v_rel_err"), "{m}");
    let causal = b.testid("control-causal").await;
    assert_eq!(
        causal.prop("checked").await.ok().flatten().as_deref(),
        Some("true")
    );
    assert_eq!(
        causal.prop("disabled").await.ok().flatten().as_deref(),
        Some("true"),
        "the causal checkbox is locked on"
    );
    let url = b.client.current_url().await.expect("url");
    assert!(url.as_str().contains("causal=true"), "{url}");
    assert!(
        b.heatmap_painted().await,
        "Transformer-XL weights not painted"
    );
    let pattern = b.testid("pattern").await;
    assert_eq!(
        pattern.attr("data-painted").await.ok().flatten().as_deref(),
        Some("true")
    );
    assert!(b.canvas_painted("effective-context").await);
    let reach = b
        .testid("effective-context-readout")
        .await
        .attr("data-reach")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let reach: Vec<u64> = serde_json::from_str(&reach).expect("reach as JSON");
    // S = M = 64, n = 512, last token at offset 63: 64 more per layer, on
    // a sequence extended to 16·64 + 64 positions.
    assert_eq!(&reach[..3], &[128, 192, 256], "{reach:?}");
    assert_eq!(reach[15], 1088);

    // A longer memory through its field: the error falls.
    b.type_number("control-memory", "192").await;
    let m = b
        .measurement("M = 192", |m| m["params"]["memory"] == 192)
        .await;
    assert!(number(&m, "rel_err") < xl64, "{m}");
    assert!(number(&m, "gpu_cpu_max_abs_err") < 1e-5, "{m}");

    // The Compressive Transformer, each compression function through its select.
    b.testid("control-method")
        .await
        .select_by_value("compressive")
        .await
        .expect("select compressive");
    b.measurement("Compressive", |m| m["method"] == "compressive")
        .await;
    for (index, f) in ["mean", "max", "conv", "most-attended"]
        .into_iter()
        .enumerate()
    {
        b.testid("control-compress")
            .await
            .select_by_value(f)
            .await
            .expect("select a compression function");
        let m = b
            .measurement(f, |m| {
                m["method"] == "compressive" && m["params"]["compress"] == index
            })
            .await;
        eprintln!(
            "compressive {f}: {} rel_err {} (mean of V {}) mass {} time {} ms",
            m["kernel_variant"],
            m["rel_err"],
            m["baseline_mean_v_rel_err"],
            m["mass_in_pattern"],
            m["time_ms"]
        );
        assert_eq!(m["backend"], "gpu", "{f}: {m}");
        assert_eq!(m["causal"], true, "{f}");
        assert_eq!(m["param_choices"]["compress"], f, "{m}");
        assert!(number(&m, "gpu_cpu_max_abs_err") < 1e-5, "{f}: {m}");
        assert!(
            m["kernel_variant"]
                .as_str()
                .unwrap_or_default()
                .contains("compressed memory"),
            "{m}"
        );
        assert!(b.heatmap_painted().await, "{f}: weights not painted");
    }
    assert!(b.canvas_painted("effective-context").await);
    let readout = b
        .testid("effective-context-readout")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        readout.contains("Transformer-XL with the same S and M"),
        "{readout}"
    );
    b.testid("scale-log")
        .await
        .click()
        .await
        .expect("log scale");
    b.screenshot("explorer-compressive.png").await;
    b.client
        .execute(
            "document.querySelector('.effective-context').scrollIntoView();",
            vec![],
        )
        .await
        .expect("scroll");
    b.screenshot("explorer-effective-context.png").await;
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;

    // Without WebGPU: the CPU twin in the page gives the native numbers.
    let query = "method=compressive&n=300&d=16&seed=7&inputs=local&segment=20&memory=30\
                 &compressed-memory=12&compress-rate=3&compress=most-attended";
    let b = Browser::open(false).await;
    b.goto(&format!("?{query}")).await;
    let m = b
        .measurement("the CPU run", |m| m["method"] == "compressive")
        .await;
    assert_eq!(m["backend"], "cpu", "{m}");
    assert_eq!(m["causal"], true, "{m}");
    let native = native_cpu(query);
    for key in [
        "pattern_pairs",
        "flops",
        "flops_algorithmic",
        "bytes_compulsory",
    ] {
        assert_eq!(m[key], native[key], "{key}");
    }
    let (page, here) = (number(&m, "rel_err"), number(&native, "rel_err"));
    assert!(
        (page - here).abs() <= 1e-5 * here.max(1e-3),
        "{page} vs {here}"
    );
    assert!(b.canvas_painted("effective-context").await);
    b.close().await;
}
