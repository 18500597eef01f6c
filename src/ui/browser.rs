//! Small browser services: yielding to the event loop, downloads, the
//! site's base path, finding WebGPU (and hearing when its device is lost),
//! and the `#debug-lose-device` test hook.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::data::LocalFuture;
use crate::gpu::{GpuContext, GpuError};

/// Gives the browser a turn (rendering, input) and resumes as soon as
/// possible: a `MessageChannel` message is a task without `setTimeout`'s
/// 4 ms clamp.
pub async fn yield_to_browser() {
    let promise = js_sys::Promise::new(
        &mut |resolve, _reject| match web_sys::MessageChannel::new() {
            Ok(channel) => {
                let port = channel.port1();
                port.set_onmessage(Some(resolve.unchecked_ref()));
                let _ = channel.port2().post_message(&JsValue::NULL);
            }
            Err(_) => {
                if let Some(window) = web_sys::window() {
                    let _ = window.set_timeout_with_callback(&resolve);
                }
            }
        },
    );
    let _ = JsFuture::from(promise).await;
}

/// Resumes after about `ms` milliseconds (a `setTimeout`), leaving the
/// event loop free meanwhile.
pub async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// [`yield_to_browser`] as the job runner's host takes it.
pub fn yield_now() -> LocalFuture<'static, ()> {
    mark("flt:yield");
    Box::pin(yield_to_browser())
}

/// A User Timing mark (`performance.mark`): where the page's work went,
/// for the browser tests' long-task check and the browser's profiler.
pub fn mark(name: &str) {
    if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
        let _ = p.mark(name);
    }
}

/// The first file chosen in a file input: its name and bytes (refused
/// beyond `max_bytes`, before reading).
pub async fn read_chosen_file(
    input: &web_sys::HtmlInputElement,
    max_bytes: f64,
) -> Result<Option<(String, Vec<u8>)>, String> {
    let Some(file) = input.files().and_then(|files| files.get(0)) else {
        return Ok(None);
    };
    let name = file.name();
    if file.size() > max_bytes {
        return Err(format!(
            "{name}: the file is {} bytes, more than the {max_bytes} this page reads",
            file.size()
        ));
    }
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("{name}: cannot read the file: {e:?}"))?;
    Ok(Some((name, js_sys::Uint8Array::new(&buffer).to_vec())))
}

/// Offers `text` as a file download named `filename`.
pub fn download(filename: &str, mime: &str, text: &str) -> Result<(), String> {
    let err = |e: JsValue| format!("download failed: {e:?}");
    let window = web_sys::window().ok_or("no window")?;
    let document = window.document().ok_or("no document")?;
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(err)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(err)?;
    let anchor: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(err)?
        .dyn_into()
        .map_err(|_| "not an anchor")?;
    anchor.set_href(&url);
    anchor.set_download(filename);
    anchor.click();
    web_sys::Url::revoke_object_url(&url).map_err(err)?;
    Ok(())
}

/// The path the site is served under, without its trailing slash: `""` at
/// a domain's root, `"/flt-explorer"` for `trunk build --public-url
/// /flt-explorer/` (trunk writes it into `<base href>`, see `index.html`).
pub fn site_base() -> String {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector("base[href]").ok().flatten())
        .and_then(|base| base.get_attribute("href"))
        .filter(|href| href.starts_with('/'))
        .map(|href| href.trim_end_matches('/').to_string())
        .unwrap_or_default()
}

/// Creates the WebGPU context, or says why there is none
/// ([`GpuError::Unavailable`]).
pub async fn init_gpu() -> Result<GpuContext, GpuError> {
    let unavailable = |why: &str| GpuError::Unavailable(why.to_string());
    let window = web_sys::window().ok_or_else(|| unavailable("no window"))?;
    let gpu = js_sys::Reflect::get(&window.navigator(), &JsValue::from_str("gpu"))
        .unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() || gpu.is_null() {
        return Err(unavailable("this browser does not expose navigator.gpu"));
    }
    let adapter = GpuContext::adapter().await.map_err(|_| {
        unavailable(
            "navigator.gpu offers no adapter (WebGPU is disabled or this GPU is not supported)",
        )
    })?;
    let mut ctx = GpuContext::from_adapter(&adapter).await?;
    // The context records the loss itself (`GpuContext::lost`); this one
    // tells the page at once: the banner, and the cached context dropped.
    ctx.device.set_device_lost_callback(|_, message| {
        super::backend::forget_lost_device();
        super::components::notices::device_lost(if message.is_empty() {
            "destroyed".to_string()
        } else {
            message
        });
    });
    if let Some(name) = adapter_name(&gpu).await {
        ctx.adapter_name = name;
    }
    if ctx.device_type == "Cpu" {
        ctx.adapter_name.push_str(" (software adapter)");
    }
    Ok(ctx)
}

/// Browsers often leave the adapter's description empty; its vendor and
/// architecture (e.g. "google swiftshader") still tell what runs the kernels.
async fn adapter_name(gpu: &JsValue) -> Option<String> {
    let request = js_sys::Reflect::get(gpu, &JsValue::from_str("requestAdapter")).ok()?;
    let promise = request
        .dyn_into::<js_sys::Function>()
        .ok()?
        .call0(gpu)
        .ok()?;
    let adapter = JsFuture::from(promise.dyn_into::<js_sys::Promise>().ok()?)
        .await
        .ok()?;
    let info = js_sys::Reflect::get(&adapter, &JsValue::from_str("info")).ok()?;
    let field = |key: &str| {
        js_sys::Reflect::get(&info, &JsValue::from_str(key))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let description = field("description");
    let name = if description.is_empty() {
        format!("{} {}", field("vendor"), field("architecture"))
            .trim()
            .to_string()
    } else {
        description
    };
    (!name.is_empty()).then_some(name)
}

/// The fragment that exposes the device-loss test hook.
pub const DEBUG_LOSE_DEVICE_FRAGMENT: &str = "#debug-lose-device";

/// With the page opened at [`DEBUG_LOSE_DEVICE_FRAGMENT`] (as
/// `#debug-panic`, see [`super::boot`]: explicit, never written by the
/// page), defines `window.__fltLoseDevice()`, which destroys the page's
/// WebGPU device as a driver reset would and returns whether there was
/// one: the browser tests' way to see the page recover without a reload.
pub fn install_debug_hooks() {
    let Some(window) = web_sys::window() else {
        return;
    };
    if window.location().hash().ok().as_deref() != Some(DEBUG_LOSE_DEVICE_FRAGMENT) {
        return;
    }
    let hook = wasm_bindgen::closure::Closure::<dyn Fn() -> bool>::new(
        super::backend::destroy_device_for_test,
    );
    let _ = js_sys::Reflect::set(
        &window,
        &JsValue::from_str("__fltLoseDevice"),
        hook.as_ref(),
    );
    hook.forget();
}
