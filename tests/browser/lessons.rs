//! The lessons (`/lessons`): open them, walk every step with Next, run each
//! step's preset in its lab mounted beside the text and wait for it to
//! finish (no settings issue shown, the address holding the step in its
//! path and the preset in its query), see a knob test the first step's
//! claim, leave each step without its run coming back, page with the arrow
//! keys, switch to the presenter layout (kept in the address: a reload
//! reopens it, the run included; the navigation's Lessons link marked
//! current; with the controls collapsed, the knobs hidden but every lab's
//! Run, Stop and Cancel buttons shown — the comparison runs from there,
//! the scaling sweep's and the quantization page's buttons are checked),
//! go back with Previous; an unknown step says so; the console stays
//! clean.

use super::harness::*;
use flt_explorer::pipeline::lessons::LESSONS;
use flt_explorer::settings::parse_query;

async fn attr(b: &Browser, id: &str, name: &str) -> String {
    b.testid(id)
        .await
        .attr(name)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// The address's path and sorted query pairs.
async fn address(b: &Browser) -> (String, Vec<(String, String)>) {
    let url = b.client.current_url().await.expect("url");
    let mut pairs = parse_query(url.query().unwrap_or_default());
    pairs.sort();
    (url.path().to_string(), pairs)
}

/// Waits until the lessons show step `k` (1-based) with the lab mounted or
/// not.
async fn at_step(b: &Browser, k: usize, live: bool) {
    let started = Instant::now();
    loop {
        let step = attr(b, "lesson-step", "data-step").await;
        let now = attr(b, "lesson-live", "data-live").await;
        if step == k.to_string() && now == live.to_string() {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "waiting for step {k} (live {live}): step {step}, live {now}, at {:?}",
            address(b).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts that the buttons `ids` are displayed (the lab's own Run, Stop,
/// Cancel).
async fn run_buttons_shown(b: &Browser, ids: &[&str]) {
    for id in ids {
        assert!(
            b.testid(id).await.is_displayed().await.unwrap_or(false),
            "{id} is hidden in the presenter layout ({})",
            attr(b, "lessons-page", "class").await
        );
    }
}

/// Runs the preset of step `k` (0-based) and waits for its lab to finish.
async fn run_step(b: &Browser, k: usize) {
    let lesson = &LESSONS[k];
    click(b, "lesson-run").await;
    at_step(b, k + 1, true).await;
    let (path, pairs) = address(b).await;
    let step = format!("/lessons/{}", k + 1);
    assert!(
        path.ends_with(&step) || path.ends_with(&format!("{step}/presenter")),
        "{path}"
    );
    let mut want = parse_query(lesson.query);
    want.sort();
    assert!(
        want.iter().all(|p| pairs.contains(p)),
        "{}: the address holds {pairs:?}, not the preset {want:?}",
        lesson.key
    );
    let what = format!("step {} ({})", k + 1, lesson.key);
    match lesson.route {
        "/attention" => {
            let n: u64 = want
                .iter()
                .find(|(k, _)| k == "n")
                .and_then(|(_, v)| v.parse().ok())
                .expect("n in the preset");
            let method = want.iter().find(|(k, _)| k == "method").expect("method");
            let m = b
                .measurement(&what, |m| m["n"] == n && m["method"] == method.1.as_str())
                .await;
            assert_eq!(m["backend"], "cpu", "{what}: {m}");
        }
        "/compression/quantization" => {
            b.measurement(&what, |m| m["rows"] == 64 && m["cols"] == 64)
                .await;
        }
        "/compression/model-size" => {
            let params: u64 = attr(b, "params", "data-params").await.parse().unwrap_or(0);
            assert!(params > 1_000_000, "{what}: {params} parameters");
        }
        "/scaling" => {
            click(b, "scaling-run").await;
            b.measurement_of("scaling-status", "crossovers", &what, |c| {
                c.as_object()
                    .is_some_and(|o| o.contains_key("full") && o.contains_key("linear"))
            })
            .await;
        }
        "/compare" => {
            click(b, "compare-run").await;
            let rows = b
                .measurement_of("compare-status", "compare-measurement", &what, |v| {
                    v.as_array().is_some_and(|a| a.len() >= 5)
                })
                .await;
            assert!(rows.as_array().is_some_and(|a| a.len() >= 5), "{rows}");
        }
        other => panic!("{what}: this test does not know how {other} finishes"),
    }
    // A preset the page had to correct would show its messages here.
    let issues = b
        .client
        .find_all(Locator::Css("[data-testid='lesson-live'] ul.issues li"))
        .await
        .expect("issues");
    assert!(
        issues.is_empty(),
        "{what}: the preset raised settings issues"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn the_lessons_walk_the_survey_with_live_runs_and_a_presenter_layout() {
    let b = Browser::open(true).await;
    let total = LESSONS.len();

    // The map sends newcomers here.
    b.goto_path("/").await;
    click(&b, "map-lessons").await;
    b.testid("lessons-page").await;
    at_step(&b, 1, false).await;
    assert_eq!(attr(&b, "lesson-prev", "disabled").await, "true");
    assert_eq!(
        b.testid("lesson-counter")
            .await
            .text()
            .await
            .unwrap_or_default(),
        format!("Step 1 of {total}")
    );

    // Step 1's claim, tested through the live page: doubling n multiplies
    // the compulsory FLOPs of exact attention by 4.
    run_step(&b, 0).await;
    let before = b.measurement("n = 128", |m| m["n"] == 128).await;
    b.type_number("control-n", "256").await;
    let after = b.measurement("n = 256", |m| m["n"] == 256).await;
    let ratio = number(&after, "flops_algorithmic") / number(&before, "flops_algorithmic");
    assert!((ratio - 4.0).abs() < 0.05, "FLOPs ratio {ratio}");
    let (path, _) = address(&b).await;
    assert!(
        path.ends_with("/lessons/1"),
        "a knob left the lesson: {path}"
    );

    for k in 0..total {
        if k > 0 {
            run_step(&b, k).await;
        }
        if k == 1 {
            b.screenshot("lessons.png").await;
        }
        if k + 1 < total {
            click(&b, "lesson-next").await;
            // The run stays behind: the next step starts with its text.
            at_step(&b, k + 2, false).await;
            let (path, pairs) = address(&b).await;
            assert!(path.ends_with(&format!("/lessons/{}", k + 2)), "{path}");
            assert!(
                pairs.is_empty(),
                "the last run's query came along: {pairs:?}"
            );
        }
    }
    assert_eq!(attr(&b, "lesson-next", "disabled").await, "true");

    // The presenter layout, kept in the address across a reload.
    click(&b, "presenter-toggle").await;
    let started = Instant::now();
    while attr(&b, "lessons-page", "data-presenter").await != "true" {
        assert!(
            started.elapsed() < WAIT,
            "the presenter layout did not open"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (path, pairs) = address(&b).await;
    assert!(
        path.ends_with(&format!("/lessons/{total}/presenter")),
        "{path}"
    );
    assert!(!pairs.is_empty(), "the toggle dropped the run's settings");
    let class = attr(&b, "lessons-page", "class").await;
    assert!(
        class.contains("presenter") && class.contains("controls-collapsed"),
        "{class}"
    );
    let font = |b: &Browser| {
        let client = b.client.clone();
        async move {
            client
                .execute(
                    "return parseFloat(getComputedStyle(document.querySelector(\"[data-testid='lesson-step']\")).fontSize);",
                    vec![],
                )
                .await
                .expect("font size")
                .as_f64()
                .unwrap_or(0.0)
        }
    };
    b.client.refresh().await.expect("reload");
    at_step(&b, total, true).await;
    assert_eq!(attr(&b, "lessons-page", "data-presenter").await, "true");
    assert!(
        font(&b).await >= 24.0,
        "presenter text is {} px",
        font(&b).await
    );
    // The site's navigation marks the lessons on every lesson route.
    assert_eq!(attr(&b, "lab-lessons", "aria-current").await, "page");
    // Collapsed, the lab's knobs are hidden, its Run button is not: the
    // comparison runs from the presenter layout as it is.
    assert!(
        !b.testid("control-n")
            .await
            .is_displayed()
            .await
            .unwrap_or(true)
    );
    run_buttons_shown(&b, &["compare-run", "compare-cancel"]).await;
    run_step(&b, total - 1).await;
    b.screenshot("lessons-presenter.png").await;
    click(&b, "lesson-controls-toggle").await;
    let class = attr(&b, "lessons-page", "class").await;
    assert!(!class.contains("controls-collapsed"), "{class}");
    assert!(
        b.testid("control-n")
            .await
            .is_displayed()
            .await
            .unwrap_or(false),
        "the controls did not come back"
    );

    // Back with Previous (still presenter), then with the keyboard: a
    // focused button takes Enter, and the arrow keys page.
    click(&b, "lesson-prev").await;
    at_step(&b, total - 1, false).await;
    let (path, _) = address(&b).await;
    assert!(
        path.ends_with(&format!("/lessons/{}/presenter", total - 1)),
        "{path}"
    );
    b.testid("lesson-prev")
        .await
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .expect("Enter on Previous");
    at_step(&b, total - 2, false).await;
    b.testid("lesson-prev")
        .await
        .send_keys(&char::from(Key::Right).to_string())
        .await
        .expect("ArrowRight");
    at_step(&b, total - 1, false).await;
    click(&b, "presenter-toggle").await;
    let started = Instant::now();
    while attr(&b, "lessons-page", "data-presenter").await != "false" {
        assert!(
            started.elapsed() < WAIT,
            "the presenter layout did not close"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(font(&b).await < 24.0);

    // Every other lab with buttons of its own keeps them in the presenter
    // layout with its controls collapsed: the scaling sweep, and the
    // quantization page's int8 product and QAT (opened by address, mounted
    // with Run it, not waited for).
    for (k, ids, hidden) in [
        (4, &["scaling-run", "scaling-cancel"][..], "method-picker"),
        (
            6,
            &["int8-run", "qat-run", "qat-stop"][..],
            "qat-control-seed",
        ),
    ] {
        b.goto_path(&format!("/lessons/{k}/presenter")).await;
        at_step(&b, k, false).await;
        assert_eq!(attr(&b, "lab-lessons", "aria-current").await, "page");
        click(&b, "lesson-run").await;
        at_step(&b, k, true).await;
        run_buttons_shown(&b, ids).await;
        assert!(
            !b.testid(hidden).await.is_displayed().await.unwrap_or(true),
            "step {k}: {hidden} shown with the controls collapsed"
        );
    }

    // An unknown step says so.
    b.goto_path(&format!("/lessons/{}", total + 1)).await;
    let error = b
        .testid("lesson-error")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(error.contains("no step"), "{error}");

    let errors = b.console_errors_beyond_deep_links().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    b.close().await;
}
