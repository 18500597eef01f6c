//! Classroom-ready and hard to break, in the browser (README, "Offline and
//! safety"):
//!
//! * offline: one visit, then the server stops, and deep links to other
//!   settings and other routes still load and run (the service worker's app
//!   shell and cache); a new deploy on the same origin replaces the cache;
//!   the manifest's start URL, scope and icons;
//! * the crash banner: a deliberate panic (`#debug-panic`) shows its text,
//!   Reload recovers; a module that cannot start says so; the loading
//!   indicator leaves once the app is mounted;
//! * the Content-Security-Policy: no inline script in the built pages, the
//!   page runs with the policy and without a violation in the console (and
//!   an injected inline script or string of code is refused and logged —
//!   the check's power), and every request it makes goes to its own origin.

use super::harness::*;

/// Runs `body` (an async function body, `return`ing a JSON value) in the
/// page and returns its result; a thrown error becomes `{"error": …}`.
async fn run_async(b: &Browser, body: &str) -> Value {
    let script = format!(
        "const done = arguments[arguments.length - 1];
         (async () => {{ {body} }})().then(done, (e) => done({{ error: String(e) }}));"
    );
    b.client
        .execute_async(&script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{body}"))
}

/// The files of a built site, relative to it (`icons/icon-192.png`).
fn site_files(dist: &std::path::Path) -> Vec<String> {
    fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read the site folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                let rel = path.strip_prefix(base).expect("inside the site");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dist, dist, &mut out);
    out.sort();
    out
}

/// A fresh copy of `dist/` under the temporary folder, for a test to alter.
fn copy_of_dist(tag: &str) -> PathBuf {
    let dist = root().join("dist");
    let copy = std::env::temp_dir().join(format!("flt-site-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    for file in site_files(&dist) {
        let to = copy.join(&file);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("make the folder");
        std::fs::copy(dist.join(&file), &to).expect("copy a site file");
    }
    copy
}

/// `const BUILD = "…"` of a built `sw.js`.
fn build_of(sw: &str) -> String {
    sw.lines()
        .find_map(|l| l.strip_prefix("const BUILD = \""))
        .and_then(|rest| rest.strip_suffix("\";"))
        .unwrap_or_else(|| panic!("sw.js has no BUILD constant:\n{sw}"))
        .to_string()
}

/// Waits until the service worker is active and controls the page, and
/// returns its scope, this site's caches and the paths each holds.
async fn worker_state(b: &Browser) -> Value {
    run_async(
        b,
        "const reg = await navigator.serviceWorker.ready;
         for (let i = 0; i < 200 && !navigator.serviceWorker.controller; i++)
           await new Promise((r) => setTimeout(r, 50));
         const caches_ = [];
         for (const name of await caches.keys()) {
           if (!name.startsWith('flt-explorer ')) continue;
           const cache = await caches.open(name);
           const paths = (await cache.keys()).map((r) => new URL(r.url).pathname);
           caches_.push({ name, paths });
         }
         return { scope: reg.scope, controlled: !!navigator.serviceWorker.controller, caches: caches_ };",
    )
    .await
}

/// Reloads the page and checks that a fresh document came (not the old one).
async fn reload(b: &Browser) {
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn after_one_visit_the_site_runs_offline_and_a_new_deploy_replaces_its_cache() {
    let mut b = Browser::open(false).await;
    let dist = root().join("dist");

    // One visit, online.
    b.goto_path("/attention?method=full&n=64&d=8").await;
    b.measurement("the first visit", |m| m["n"] == 64).await;
    let state = worker_state(&b).await;
    assert_eq!(state["controlled"], true, "{state}");
    assert_eq!(state["scope"], format!("{}/", b.base), "{state}");
    let caches = state["caches"].as_array().expect("caches");
    assert_eq!(caches.len(), 1, "one cache, this build's: {state}");
    let sw = std::fs::read_to_string(dist.join("sw.js")).expect("dist/sw.js");
    let first_build = build_of(&sw);
    assert!(
        caches[0]["name"]
            .as_str()
            .is_some_and(|n| n.ends_with(&format!(" {first_build}"))),
        "the cache is named after the build {first_build}: {state}"
    );
    let cached: Vec<&str> = caches[0]["paths"]
        .as_array()
        .expect("paths")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for file in site_files(&dist) {
        if file != "sw.js" {
            assert!(
                cached.contains(&format!("/{file}").as_str()),
                "{file} is not cached: {cached:?}"
            );
        }
    }

    // The manifest: start URL and scope are the site's base, every icon
    // decodes at its declared size.
    let manifest = run_async(
        &b,
        "const link = document.querySelector('link[rel=manifest]');
         const m = await (await fetch(link.href)).json();
         const icons = [];
         for (const icon of m.icons) {
           const url = new URL(icon.src, link.href);
           const r = await fetch(url);
           const bitmap = icon.type === 'image/png' ? await createImageBitmap(await r.blob()) : null;
           icons.push({ sizes: icon.sizes, status: r.status, type: r.headers.get('content-type'),
                        size: bitmap ? `${bitmap.width}x${bitmap.height}` : 'any' });
         }
         return { start: new URL(m.start_url, link.href).href, scope: new URL(m.scope, link.href).href,
                  name: m.name, icons };",
    )
    .await;
    assert_eq!(manifest["start"], format!("{}/", b.base), "{manifest}");
    assert_eq!(manifest["scope"], format!("{}/", b.base), "{manifest}");
    let icons = manifest["icons"].as_array().expect("icons");
    assert!(icons.len() >= 3, "{manifest}");
    for icon in icons {
        assert_eq!(icon["status"], 200, "{icon}");
        assert_eq!(icon["size"], icon["sizes"], "{icon}");
    }

    // Offline: other settings, a reload, another route.
    b.stop_server().await;
    let query = "method=longformer&n=128&d=16&seed=3";
    let ours = |m: &Value| m["method"] == "longformer" && m["n"] == 128 && m["seed"] == 3;
    b.goto_path(&format!("/attention?{query}")).await;
    let m = b.measurement("a deep link offline", ours).await;
    let native = native_cpu(query);
    for key in ["inputs_digest", "params", "pattern_pairs", "flops"] {
        assert_eq!(m[key], native[key], "{key}");
    }
    reload(&b).await;
    b.measurement("the deep link reloaded offline", ours).await;
    b.goto_path("/compare?n=32&d=8").await;
    b.testid("compare-page").await;
    let nav = b.testid("lab-compare").await;
    assert_eq!(
        nav.attr("aria-current").await.ok().flatten().as_deref(),
        Some("page")
    );
    b.screenshot("offline-compare.png").await;
    let errors = b.console_errors_beyond_deep_links().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // A new deploy on the same origin (here: index.html changed, sw.js
    // rebuilt by the same post_build script): the browser installs the new
    // worker, which caches the new build and drops the old cache.
    let deploy = copy_of_dist("deploy");
    let index = std::fs::read_to_string(deploy.join("index.html")).expect("index.html");
    let marker = "second deploy of the offline test";
    std::fs::write(
        deploy.join("index.html"),
        index.replace("</body>", &format!("<!-- {marker} --></body>")),
    )
    .expect("write index.html");
    std::fs::copy(root().join("assets/sw.js"), deploy.join("sw.js")).expect("sw.js");
    let hook = std::process::Command::new("sh")
        .arg(root().join("scripts/post_build.sh"))
        .env("TRUNK_STAGING_DIR", &deploy)
        .status()
        .expect("run scripts/post_build.sh");
    assert!(hook.success());
    let second_build =
        build_of(&std::fs::read_to_string(deploy.join("sw.js")).expect("the new sw.js"));
    assert_ne!(first_build, second_build, "a changed file changes BUILD");
    b.serve_again(deploy.clone()).await;
    let updated = run_async(
        &b,
        &format!(
            "const reg = await navigator.serviceWorker.getRegistration();
             await reg.update();
             for (let i = 0; i < 300; i++) {{
               const names = (await caches.keys()).filter((n) => n.startsWith('flt-explorer '));
               if (names.length === 1 && names[0].endsWith(' {second_build}')) {{
                 const shell = await (await caches.open(names[0])).match('index.html');
                 return {{ names, shell: shell ? await shell.text() : '' }};
               }}
               await new Promise((r) => setTimeout(r, 50));
             }}
             return {{ names: await caches.keys(), shell: '' }};"
        ),
    )
    .await;
    assert!(
        updated["shell"]
            .as_str()
            .is_some_and(|shell| shell.contains(marker)),
        "the new build's cache alone, with the new index.html: {}",
        updated["names"]
    );
    // Offline again: the shell is the new deploy's.
    b.stop_server().await;
    b.goto_path("/attention?method=full&n=32&d=8").await;
    b.measurement("the new deploy offline", |m| m["n"] == 32)
        .await;
    let shell = b
        .client
        .execute(
            "return document.body.innerHTML.includes(arguments[0]);",
            vec![json!(marker)],
        )
        .await
        .expect("read the page");
    assert_eq!(shell, Value::Bool(true), "the page is the new deploy's");
    let _ = std::fs::remove_dir_all(&deploy);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn a_panic_shows_the_crash_banner_and_reload_recovers() {
    let b = Browser::open(false).await;
    // The loading indicator and the hidden banner are static HTML: they
    // show before (and whether or not) the wasm starts.
    let (_, html) = http_get(&b.base, "/").await;
    assert!(html.contains("id=\"boot-loading\""), "{html}");
    assert!(
        html.contains("id=\"crash-banner\"") && html.contains("hidden>"),
        "{html}"
    );

    // A page that runs: the app removed the loading indicator; no banner.
    b.goto_path("/attention?method=full&n=32&d=8").await;
    b.measurement("a normal run", |m| m["n"] == 32).await;
    let loading = b
        .client
        .find_all(Locator::Css("#boot-loading"))
        .await
        .expect("query");
    assert!(
        loading.is_empty(),
        "the loading indicator stays after mount"
    );
    let banner = b.testid("crash-banner").await;
    assert!(!banner.is_displayed().await.expect("displayed"));

    // The deliberate panic: the banner shows its message over the page.
    b.goto_path("/attention?method=full&n=16&d=8#debug-panic")
        .await;
    let started = Instant::now();
    while !b
        .testid("crash-banner")
        .await
        .is_displayed()
        .await
        .unwrap_or(false)
    {
        assert!(started.elapsed() < WAIT, "no crash banner after the panic");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let banner = b.testid("crash-banner").await.text().await.expect("text");
    assert!(banner.contains("Something broke — reload"), "{banner}");
    let message = b.testid("crash-message").await.text().await.expect("text");
    assert!(
        message.contains("panicked at") && message.contains("debug-panic: a deliberate panic"),
        "{message}"
    );
    b.screenshot("crash-banner.png").await;
    let errors = b.console_errors().await;
    assert!(
        errors.iter().any(|e| e.contains("debug-panic")),
        "the panic is still logged to the console: {errors:#?}"
    );

    // Reload: the same address without the fragment, and the page runs.
    let reload = b.testid("crash-reload").await;
    assert_eq!(
        reload.attr("href").await.ok().flatten(),
        Some(format!(
            "{}/attention?method=full&n=16&d=8&seed=1&causal=false",
            b.base
        )) // the address as the page normalised it
    );
    b.client
        .execute("window.beforeReload = true;", vec![])
        .await
        .expect("mark the document");
    reload.click().await.expect("click Reload");
    let started = Instant::now();
    while b
        .client
        .execute("return window.beforeReload === true;", vec![])
        .await
        .map_or(true, |v| v == Value::Bool(true))
    {
        assert!(started.elapsed() < WAIT, "Reload did not load a new page");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.measurement("the page after Reload", |m| m["n"] == 16)
        .await;
    assert!(
        !b.testid("crash-banner")
            .await
            .is_displayed()
            .await
            .expect("displayed")
    );
    let errors = b.console_errors_beyond_deep_links().await;
    assert!(
        errors.is_empty(),
        "console errors after Reload: {errors:#?}"
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn a_module_that_cannot_start_shows_the_banner() {
    // A broken deploy: the wasm cut short.
    let site = copy_of_dist("broken");
    let wasm = site_files(&site)
        .into_iter()
        .find(|f| f.ends_with(".wasm"))
        .expect("a wasm file");
    let bytes = std::fs::read(site.join(&wasm)).expect("read the wasm");
    std::fs::write(site.join(&wasm), &bytes[..bytes.len() / 3]).expect("cut the wasm");
    let b = Browser::open_serving(false, site.clone()).await;
    b.goto_path("/").await;
    let started = Instant::now();
    while !b
        .testid("crash-banner")
        .await
        .is_displayed()
        .await
        .unwrap_or(false)
    {
        assert!(
            started.elapsed() < WAIT,
            "no crash banner for a broken wasm"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let message = b.testid("crash-message").await.text().await.expect("text");
    assert!(message.starts_with("The app could not start"), "{message}");
    let loading = b
        .client
        .find_all(Locator::Css("#boot-loading"))
        .await
        .expect("query");
    assert!(
        loading.is_empty(),
        "the loading indicator stays under the banner"
    );
    b.close().await;
    let _ = std::fs::remove_dir_all(&site);
}

/// Every resource the current document fetched, with the document itself:
/// their URLs, each checked to be on the site's origin.
async fn requests_stay_home(b: &Browser, what: &str) -> Vec<String> {
    let urls = b
        .client
        .execute(
            "return performance.getEntriesByType('navigation')
               .concat(performance.getEntriesByType('resource'))
               .map((e) => e.name);",
            vec![],
        )
        .await
        .expect("read the resource timing");
    let urls: Vec<String> = urls
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|u| u.as_str().map(str::to_string))
        .collect();
    for url in &urls {
        assert!(
            url.starts_with(&format!("{}/", b.base)),
            "{what}: a request beyond the site's origin: {url}"
        );
    }
    urls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dist/ and Chromium: run by scripts/test"]
async fn the_page_runs_under_a_strict_csp_and_requests_only_its_own_origin() {
    // The built pages: no inline script, and the policy's directives.
    let dist = root().join("dist");
    let index = std::fs::read_to_string(dist.join("index.html")).expect("index.html");
    for page in ["index.html", "404.html"] {
        let html = std::fs::read_to_string(dist.join(page)).expect("page");
        for tag in html.split("<script").skip(1) {
            let open = tag.split('>').next().unwrap_or_default();
            let body = tag.split_once('>').map(|x| x.1).unwrap_or_default();
            assert!(
                open.contains(" src=") && body.trim_start().starts_with("</script"),
                "{page}: an inline script: <script{}",
                &tag[..tag.len().min(200)]
            );
        }
    }
    let policy = index
        .split("http-equiv=\"Content-Security-Policy\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("index.html carries a CSP meta element")
        .to_string();
    for directive in [
        "script-src 'self' 'wasm-unsafe-eval';",
        "connect-src 'self';",
        "default-src 'self';",
        "object-src 'none';",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("'unsafe-eval'"), "{policy}");
    let script_src = policy
        .split(';')
        .find(|d| d.trim_start().starts_with("script-src"))
        .unwrap_or_default();
    assert!(!script_src.contains("unsafe-inline"), "{policy}");

    // The page runs under it (WebGPU), on a lab, the map and the model
    // sizes.
    let b = Browser::open(true).await;
    b.goto_path("/attention?method=longformer&n=128&d=16").await;
    b.measurement("a run under the CSP", |m| m["method"] == "longformer")
        .await;
    let live = b
        .client
        .execute(
            "return document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]').content;",
            vec![],
        )
        .await
        .expect("read the policy");
    assert_eq!(live, Value::String(policy.clone()));
    let urls = requests_stay_home(&b, "/attention").await;
    assert!(
        urls.iter().any(|u| u.ends_with(".wasm")) && urls.iter().any(|u| u.ends_with(".css")),
        "the resource timing lists the site's files: {urls:#?}"
    );
    b.goto_path("/").await;
    b.testid("lab-map").await;
    requests_stay_home(&b, "/").await;
    // The model-size page colours its swatches with style attributes (the
    // policy's style-src-attr).
    b.goto_path("/compression/model-size").await;
    b.testid("calculator-steps").await;
    requests_stay_home(&b, "/compression/model-size").await;
    let errors = b.console_errors_beyond_deep_links().await;
    assert!(
        errors.is_empty(),
        "console errors (CSP violations?): {errors:#?}"
    );

    // The check's power: an inline script and a string of code
    // (`setTimeout` with a string, an eval) are refused, and the refusal is
    // logged as a console error. (WebDriver's own scripts are exempt.)
    let refused = b
        .client
        .execute(
            "const s = document.createElement('script');
             s.textContent = 'window.inlineRan = true;';
             document.body.append(s);
             setTimeout('window.stringRan = true;', 0);
             return window.inlineRan === undefined;",
            vec![],
        )
        .await
        .expect("inject");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let string_ran = b
        .client
        .execute("return window.stringRan === true;", vec![])
        .await
        .expect("read");
    assert_eq!(
        (refused, string_ran),
        (Value::Bool(true), Value::Bool(false)),
        "the CSP refuses inline scripts and code from strings"
    );
    let errors = b.console_errors().await;
    assert!(
        errors.iter().any(|e| e.contains("Content Security Policy")),
        "a violation shows in the console: {errors:#?}"
    );
    b.close().await;
}
