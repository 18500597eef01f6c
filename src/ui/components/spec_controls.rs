//! A lab's control strip generated from its settings table — any slice of
//! [`Spec`]s: a `<select>` for a choice, a number field for a number, a
//! checkbox for a flag, each with the spec's label, range and help. Each
//! control writes its raw text into the URL through `update`, so a bad
//! entry gets the same message as a bad URL. A knob that does not apply to
//! the current settings is greyed out and says why.

use leptos::prelude::*;

use super::controls::Update;
use crate::pipeline::BackendChoice;
use crate::settings::{Kind, Spec};

/// Why a knob does not apply now, by key (`None`: it applies).
pub type Inactive = fn(&str, &[(String, String)]) -> Option<&'static str>;

/// The text of `key` in `pairs`, or the spec's default.
fn value_of(pairs: &[(String, String)], spec: &Spec) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == spec.key)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| match spec.kind {
            Kind::Int { default, .. } => default.to_string(),
            Kind::Real { default, .. } => default.to_string(),
            Kind::Flag => "false".into(),
            Kind::Choice { default, .. } => default.into(),
        })
}

/// How a choice's option reads (the backend's have descriptions).
fn option_label(key: &str, name: &'static str) -> String {
    match key {
        "backend" => BackendChoice::ALL
            .iter()
            .find(|(b, _)| b.key() == name)
            .map(|(_, label)| label.to_string())
            .unwrap_or_else(|| name.into()),
        _ => name.into(),
    }
}

/// The controls of `specs`; `values` are the settings as `key=value` pairs.
#[component]
pub fn SpecControls(
    specs: &'static [Spec],
    #[prop(into)] values: Signal<Vec<(String, String)>>,
    update: Update,
    /// Why a knob does not apply.
    inactive: Inactive,
    /// Keys to leave out of the strip (controlled elsewhere).
    #[prop(optional)]
    skip: &'static [&'static str],
    /// Prefix of the test ids (`control-<key>` by default).
    #[prop(default = "control")]
    prefix: &'static str,
) -> impl IntoView {
    view! {
        <div class="controls">
            {specs
                .iter()
                .filter(|s| !skip.contains(&s.key))
                .map(|spec| {
                    view! {
                        <SpecControl
                            spec=spec
                            values=values
                            update=update
                            inactive=inactive
                            prefix=prefix
                        />
                    }
                })
                .collect_view()}
        </div>
    }
}

/// One knob.
#[component]
fn SpecControl(
    spec: &'static Spec,
    values: Signal<Vec<(String, String)>>,
    update: Update,
    inactive: Inactive,
    prefix: &'static str,
) -> impl IntoView {
    let value = move || values.with(|v| value_of(v, spec));
    let why_not = move || values.with(|v| inactive(spec.key, v));
    let title = move || match why_not() {
        Some(why) => format!("{} — {why}", spec.help),
        None => format!("{} ({})", spec.help, spec.range_text()),
    };
    let set = move |text: String| {
        if !text.trim().is_empty() {
            update.with_value(|f| f(spec.key, text));
        }
    };
    let testid = format!("{prefix}-{}", spec.key);
    let body = match spec.kind {
        Kind::Choice { names, .. } => view! {
            <select
                data-testid=testid
                prop:disabled=move || why_not().is_some()
                on:change=move |ev| set(event_target_value(&ev))
            >
                {names()
                    .into_iter()
                    .map(|name| {
                        view! {
                            <option value=name selected=move || value() == name>
                                {option_label(spec.key, name)}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        }
        .into_any(),
        Kind::Flag => view! {
            <input
                type="checkbox"
                data-testid=testid
                prop:checked=move || value() == "true"
                prop:disabled=move || why_not().is_some()
                on:change=move |ev| set(event_target_checked(&ev).to_string())
            />
        }
        .into_any(),
        Kind::Int { min, max, .. } => view! {
            <input
                type="number"
                data-testid=testid
                min=min.to_string()
                max=max.to_string()
                step="1"
                prop:value=value
                prop:disabled=move || why_not().is_some()
                on:change=move |ev| set(event_target_value(&ev))
            />
        }
        .into_any(),
        Kind::Real { min, max, .. } => view! {
            <input
                type="number"
                data-testid=testid
                min=min.to_string()
                max=max.to_string()
                step="any"
                prop:value=value
                prop:disabled=move || why_not().is_some()
                on:change=move |ev| set(event_target_value(&ev))
            />
        }
        .into_any(),
    };
    view! {
        <label class="control" class:inactive=move || why_not().is_some() title=title>
            <span>{spec.label}</span>
            {body}
        </label>
    }
}
