//! The web app's entry point: mounts the leptos app (see `ui`). Natively it
//! only explains how to serve the page; the native tool is `flt`.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(flt_explorer::ui::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    println!("flt-explorer is a web app: run ./scripts/serve and open the printed address.");
    println!("For the native command-line tool, run: cargo run --release --bin flt -- --help");
}
