//! Every result number is explained (issue 12: "every number on the page
//! has a short explanation on hover or focus — what it counts, its
//! formula"). On each route, after a run, the page's result tables (the
//! explorer's cost table, the comparison, the scaling exponents, the
//! quantization figures, schemes, quantized-attention errors, int8 kernels,
//! QAT accuracies, the model-size tables and calculator) are scanned: a
//! cell's every digit must sit inside an explained number (`.x-num`,
//! `src/ui/components/explained.rs`) — labels (`.x-label`), the visible
//! explanations beside a number (`.x-why`, `.formula`) excepted — and
//! every explained number must be focusable and point (`aria-describedby`)
//! at a non-empty explanation. Then Tab from the page's start reaches a
//! number, which shows its explanation, readable (contrast ≥ 4.5:1) in the
//! light and the dark theme.

use super::harness::*;

/// The scan (see the module's doc): the failures, the explained numbers
/// found and the result cells checked.
const SCAN: &str = r#"
const skip = '.formula, .x-why, .x-num, .x-label';
const failures = [];
let cells = 0;
const tables = document.querySelectorAll('table.figure-table, table.compare-table, table.int8-table');
for (const table of tables) {
  // The survey's own columns (complexities, advice), not results.
  if (table.matches('.beyond-table, .complexity, .rec-table')) continue;
  const name = table.dataset.testid || table.className;
  for (const td of table.querySelectorAll('tbody td')) {
    if (td.matches(skip)) continue;
    cells += 1;
    const bare = td.cloneNode(true);
    bare.querySelectorAll(skip).forEach(e => e.remove());
    if (/[0-9]/.test(bare.textContent)) {
      failures.push(`${name}: a number without its explanation in "${td.innerText.trim().slice(0, 80)}"`);
    }
  }
}
const numbers = document.querySelectorAll('.x-num');
for (const n of numbers) {
  const id = n.getAttribute('aria-describedby');
  const tip = id && document.getElementById(id);
  const text = tip ? tip.textContent.trim() : '';
  const value = n.firstChild ? n.firstChild.textContent : '';
  if (text.length < 10) failures.push(`"${value}": explanation "${text}"`);
  if (n.tabIndex !== 0) failures.push(`"${value}": not focusable`);
  if (tip && !n.contains(tip)) failures.push(`"${value}": its explanation is elsewhere`);
}
return { failures, numbers: numbers.length, cells };
"#;

/// Scans the page (see [`SCAN`]): its failures, and a failure when it
/// holds fewer than `min` explained numbers.
async fn unexplained(b: &Browser, route: &str, min: u64) -> Vec<String> {
    let found = b.client.execute(SCAN, vec![]).await.expect("scan");
    let mut failures: Vec<String> =
        serde_json::from_value::<Vec<String>>(found["failures"].clone())
            .unwrap_or_default()
            .into_iter()
            .map(|f| format!("{route}: {f}"))
            .collect();
    let numbers = found["numbers"].as_u64().unwrap_or(0);
    let cells = found["cells"].as_u64().unwrap_or(0);
    eprintln!("{route}: {numbers} explained numbers, {cells} result cells checked");
    if numbers < min || cells == 0 {
        failures.push(format!(
            "{route}: {numbers} explained numbers (want ≥ {min}), {cells} result cells"
        ));
    }
    failures
}

/// The relative luminance contrast of the focused number's explanation
/// (its text on its background), and whether it is shown.
const TIP: &str = r#"
const n = document.activeElement;
if (!n || !n.classList.contains('x-num')) return { focused: false };
const tip = document.getElementById(n.getAttribute('aria-describedby'));
const style = getComputedStyle(tip);
const rgb = c => c.match(/[0-9.]+/g).slice(0, 3).map(Number);
const lum = ([r, g, b]) => {
  const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))];
return {
  focused: true,
  display: style.display,
  text: tip.textContent,
  contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
};
"#;

/// Tabs from the start of the page until a number has the focus (at most
/// `limit` presses): what its explanation shows.
async fn tab_to_a_number(b: &Browser, limit: usize) -> Value {
    b.client
        .execute(
            "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);",
            vec![],
        )
        .await
        .expect("blur");
    let body = b.client.find(Locator::Css("body")).await.expect("the body");
    body.send_keys(&char::from(Key::Tab).to_string())
        .await
        .expect("Tab");
    for _ in 0..limit {
        let tip = b.client.execute(TIP, vec![]).await.expect("the tip");
        if tip["focused"] == true {
            return tip;
        }
        b.client
            .active_element()
            .await
            .expect("the focus")
            .send_keys(&char::from(Key::Tab).to_string())
            .await
            .expect("Tab");
    }
    panic!("{limit} presses of Tab reached no number");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn every_result_number_explains_itself_on_hover_and_focus() {
    let b = Browser::open(false).await;
    let mut failures = Vec::new();

    // The explorer: the cost table, its ratios, baselines, stages.
    b.goto_path("/attention?method=longformer&n=128&d=16&seed=1&window=8")
        .await;
    b.measurement("the explorer's run", |m| m["n"] == 128).await;
    failures.extend(unexplained(&b, "/attention", 15).await);

    // Tab reaches a number: its explanation shows, readable in both themes.
    let tip = tab_to_a_number(&b, 120).await;
    assert_eq!(tip["display"], "block", "{tip}");
    assert!(tip["text"].as_str().unwrap_or_default().len() > 10, "{tip}");
    assert!(
        tip["contrast"].as_f64().unwrap_or(0.0) >= 4.5,
        "light: {tip}"
    );
    b.screenshot("explained-focus.png").await;
    b.client
        .execute(
            "document.documentElement.setAttribute('data-theme', 'dark');",
            vec![],
        )
        .await
        .expect("dark theme");
    let tip = b.client.execute(TIP, vec![]).await.expect("the tip");
    assert!(
        tip["contrast"].as_f64().unwrap_or(0.0) >= 4.5,
        "dark: {tip}"
    );
    b.client
        .execute(
            "document.documentElement.removeAttribute('data-theme');",
            vec![],
        )
        .await
        .expect("light theme");

    // The comparison.
    b.goto_path("/compare?n=32&d=8&backend=cpu").await;
    click(&b, "compare-run").await;
    b.measurement_of(
        "compare-status",
        "compare-measurement",
        "the comparison",
        |v| v.as_array().is_some_and(|a| a.len() >= 5),
    )
    .await;
    failures.extend(unexplained(&b, "/compare", 40).await);

    // The scaling sweep.
    b.goto_path("/scaling?methods=full,linear&d=8&n-min=32&n-max=512&backend=cpu")
        .await;
    click(&b, "scaling-run").await;
    b.measurement_of("scaling-status", "crossovers", "the sweep", |c| {
        c.as_object()
            .is_some_and(|o| o.contains_key("full") && o.contains_key("linear"))
    })
    .await;
    failures.extend(unexplained(&b, "/scaling", 6).await);

    // Quantization: the figures, the schemes, quantized attention, the
    // int8 kernels and QAT.
    b.goto_path(
        "/compression/quantization?bits=4&rows=32&cols=32&backend=cpu&int8-m=8&int8-k=16&int8-n=8&qat-epochs=1",
    )
    .await;
    b.measurement("the quantizer", |m| m["rows"] == 32).await;
    b.measurement_of("qa-status", "qa-measurement", "quantized attention", |_| {
        true
    })
    .await;
    click(&b, "quant-sweep-start").await;
    let started = Instant::now();
    while b
        .testid("quant-sweep-status")
        .await
        .attr("data-state")
        .await
        .ok()
        .flatten()
        .as_deref()
        != Some("done")
    {
        assert!(started.elapsed() < WAIT, "the scheme sweep did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    click(&b, "int8-run").await;
    b.measurement_of(
        "int8-status",
        "int8-measurement",
        "the int8 product",
        |_| true,
    )
    .await;
    click(&b, "qat-run").await;
    b.measurement_of("qat-status", "qat-measurement", "QAT", |_| true)
        .await;
    failures.extend(unexplained(&b, "/compression/quantization", 30).await);

    // Model size: computed at once.
    b.goto_path("/compression/model-size?model=bert-base").await;
    b.testid("sizes-table").await;
    b.testid("calculator-steps").await;
    failures.extend(unexplained(&b, "/compression/model-size", 40).await);

    assert!(
        failures.is_empty(),
        "{} unexplained numbers: {failures:#?}",
        failures.len()
    );
    let errors = b.console_errors_beyond_deep_links().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    b.close().await;
}
