//! A report as JSON (for the attention lab, the schema of `flt run --json`),
//! with a download button. Any lab's report fits: it takes the JSON value.

use leptos::prelude::*;

use crate::ui::browser::download;

/// The raw-data card: `json` pretty-printed, downloadable as `filename`.
#[component]
pub fn RawData(
    #[prop(into)] json: Signal<Option<serde_json::Value>>,
    #[prop(into)] filename: Signal<String>,
    /// What produces the same schema natively (`flt run --json`).
    #[prop(optional)]
    native: &'static str,
    /// The JSON's test id; the download button's replaces a final
    /// `measurement` with `download` (`qa-measurement` → `qa-download`),
    /// and is `download-json` for the page's main `measurement`.
    #[prop(default = "measurement")]
    testid: &'static str,
    /// The card's heading.
    #[prop(default = "Raw data")]
    heading: &'static str,
) -> impl IntoView {
    let download_id = match testid.strip_suffix("measurement") {
        Some("") => "download-json".to_string(),
        Some(prefix) => format!("{prefix}download"),
        None => format!("{testid}-download"),
    };
    let text = Memo::new(move |_| {
        json.with(|j| {
            j.as_ref()
                .and_then(|j| serde_json::to_string_pretty(j).ok())
        })
        .unwrap_or_default()
    });
    let (error, set_error) = signal(None::<String>);
    let save = move |_| {
        let body = text.get_untracked();
        if !body.is_empty() {
            let name = filename.get_untracked();
            set_error.set(download(&name, "application/json", &body).err());
        }
    };
    view! {
        <section class="card raw-data">
            <div class="card-head">
                <h2>{heading}</h2>
                <button
                    data-testid=download_id
                    prop:disabled=move || text.with(String::is_empty)
                    on:click=save
                >
                    "Download JSON"
                </button>
            </div>
            {(!native.is_empty())
                .then(|| {
                    view! {
                        <p class="muted">"The same schema as " <code>{native}</code> "."</p>
                    }
                })}
            // Focusable and named: a reader scrolls it with the keyboard.
            <pre data-testid=testid tabindex="0" role="region" aria-label=heading>
                {move || text.get()}
            </pre>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        </section>
    }
}
