//! The web app's entry point: installs the crash banner's panic hook, mounts
//! the leptos app (see `ui`) and removes the loading indicator (`ui::boot`).
//! Natively it only explains how to serve the page; the native tool is `flt`.

#[cfg(target_arch = "wasm32")]
fn main() {
    flt_explorer::ui::boot::install_panic_hook();
    leptos::mount::mount_to_body(flt_explorer::ui::App);
    flt_explorer::ui::boot::mounted();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    println!("flt-explorer is a web app: run ./scripts/serve and open the printed address.");
    println!("For the native command-line tool, run: cargo run --release --bin flt -- --help");
}
