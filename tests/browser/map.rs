//! The home page: the survey's map. Every approach says what runs it (its
//! state equals the library's), every link opens a page that renders, a
//! method page shows its equations as MathML, old explorer links at `/`
//! still reproduce their runs, and `/` reloads from the static build.

use super::harness::*;

/// The page each lab's route renders, by its root's test id.
fn page_testid(path: &str) -> &'static str {
    match path {
        "/attention" => "explorer-page",
        "/compression/quantization" => "quantization-page",
        "/compression/model-size" => "model-size-page",
        "/compare" => "compare-page",
        "/scaling" => "scaling-page",
        other => panic!("the map links to {other}, which this test does not know"),
    }
}

async fn visit_every_link(b: &Browser) {
    b.goto_path("/").await;
    b.testid("map-page").await;
    let hrefs: Vec<String> = {
        let links = b
            .client
            .find_all(Locator::Css("[data-testid='map-link']"))
            .await
            .expect("links");
        let mut out = Vec::new();
        for l in links {
            out.push(l.attr("href").await.ok().flatten().expect("href"));
        }
        out
    };
    assert!(hrefs.len() >= 15, "{hrefs:?}");
    for href in hrefs {
        let path = href.split('?').next().unwrap_or_default().to_string();
        b.goto_path(&href).await;
        b.testid(page_testid(&path)).await;
        let missing = b
            .client
            .find_all(Locator::Css("[data-testid='not-found']"))
            .await
            .expect("query");
        assert!(missing.is_empty(), "{href} rendered the not-found page");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn the_map_links_every_approach_to_a_page_that_runs_it() {
    use flt_explorer::pipeline::taxonomy::{TAXONOMY, status};
    let b = Browser::open(true).await;
    b.goto_path("/").await;
    b.testid("map-page").await;
    for branch in TAXONOMY {
        for a in branch.approaches {
            let node = b.testid(&format!("map-node-{}", a.key)).await;
            let state = node.attr("data-status").await.ok().flatten();
            let want = if status(a).is_ok() { "runs" } else { "to-come" };
            assert_eq!(state.as_deref(), Some(want), "{}", a.key);
        }
    }
    let active = b
        .testid("lab-map")
        .await
        .attr("aria-current")
        .await
        .ok()
        .flatten();
    assert_eq!(active.as_deref(), Some("page"));
    b.screenshot("map.png").await;
    // Through a real link: the first method of the sparse branch.
    b.client
        .find(Locator::Css(
            "[data-testid='map-node-sparse'] [data-testid='map-link']",
        ))
        .await
        .expect("a sparse method")
        .click()
        .await
        .expect("click");
    let m = b
        .measurement("the linked method", |m| m["family"] == "attention")
        .await;
    assert_eq!(m["method"], "longformer", "{m}");
    let math = b
        .client
        .find_all(Locator::Css("[data-testid='method-equations'] math"))
        .await
        .expect("math");
    assert!(
        !math.is_empty(),
        "the method card shows its equations as MathML"
    );
    b.element_screenshot("method-card", "method-card-mathml.png")
        .await;
    visit_every_link(&b).await;
    // Old links at / keep reproducing their runs.
    b.goto("?method=full&n=64&d=16&seed=2").await;
    let m = b.measurement("an old link", |m| m["n"] == 64).await;
    assert_eq!(m["method"], "full");
    // A reload of / from the static build is the map again.
    b.goto_path("/").await;
    b.client.refresh().await.expect("reload");
    b.testid("map-page").await;
    let errors = b.console_errors_beyond_deep_links().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn without_webgpu_the_map_leads_to_runs_on_the_cpu_twin() {
    let b = Browser::open(false).await;
    b.goto_path("/").await;
    b.testid("map-page").await;
    b.client
        .find(Locator::Css(
            "[data-testid='map-node-kernel'] [data-testid='map-link']",
        ))
        .await
        .expect("a kernel method")
        .click()
        .await
        .expect("click");
    let m = b
        .measurement("the linked method", |m| m["family"] == "attention")
        .await;
    assert_eq!(
        (m["method"].as_str(), m["backend"].as_str()),
        (Some("linear"), Some("cpu"))
    );
    b.client.refresh().await.expect("reload");
    b.measurement("after a reload", |m| m["method"] == "linear")
        .await;
    let errors = b.console_errors_beyond_deep_links().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}
