//! The last run's Measurement as JSON (the schema of `flt --json`), with a
//! download button.

use std::sync::Arc;

use leptos::prelude::*;

use crate::run::RunOutput;
use crate::ui::browser::download;

/// The raw-data card.
#[component]
pub fn RawData(result: ReadSignal<Option<Arc<RunOutput>>>) -> impl IntoView {
    let json = Memo::new(move |_| {
        result
            .get()
            .and_then(|o| serde_json::to_string_pretty(&o.measurement).ok())
            .unwrap_or_default()
    });
    let (error, set_error) = signal(None::<String>);
    let save = move |_| {
        let Some(out) = result.get_untracked() else {
            return;
        };
        let m = &out.measurement;
        let name = format!(
            "measurement-{}-n{}-d{}{}.json",
            m.method,
            m.n,
            m.d,
            if m.causal { "-causal" } else { "" }
        );
        set_error.set(download(&name, "application/json", &json.get_untracked()).err());
    };
    view! {
        <section class="card raw-data">
            <div class="card-head">
                <h2>"Raw data"</h2>
                <button data-testid="download-json" prop:disabled=move || json.get().is_empty() on:click=save>
                    "Download JSON"
                </button>
            </div>
            <p class="muted">"The same schema as " <code>"flt run --json"</code> "."</p>
            <pre data-testid="measurement">{move || json.get()}</pre>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        </section>
    }
}
