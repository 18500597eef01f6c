//! The controls, generated from the settings tables: the common knobs from
//! [`crate::settings::COMMON`] (label, help, range, choices) and the selected
//! method's own knobs from its [`ParamSpec`]s (a number, a flag, or a choice
//! as a `<select>`); n also gets a slider over powers of two. Each control
//! writes its raw text into the URL through `update`, so a bad entry gets
//! the same message as a bad URL.

use leptos::prelude::*;

use crate::attention::{MethodId, ParamSpec};
use crate::inputs::PAGE_MAX_N;
use crate::settings::{BackendChoice, COMMON, Kind, Settings, Spec};

/// What a control calls with its key and raw text. The page's navigation
/// closure is not `Send`; reactive views need `Send` captures, so it lives in
/// a local arena slot and controls capture the handle.
pub type Update = StoredValue<Box<dyn Fn(&'static str, String)>, LocalStorage>;

/// A control's setter of `key`: an emptied field is an edit in progress,
/// not a value, and changes nothing.
fn setter(update: Update, key: &'static str) -> impl Fn(String) + Copy + Send + Sync + 'static {
    move |value: String| {
        if !value.trim().is_empty() {
            update.with_value(|f| f(key, value))
        }
    }
}

/// The text a common knob's control shows for `settings`.
fn current(settings: &Settings, spec: &Spec) -> String {
    settings
        .to_pairs()
        .into_iter()
        .find(|(k, _)| k == spec.key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| match spec.kind {
            Kind::Int { default, .. } => default.to_string(),
            Kind::Real { default, .. } => default.to_string(),
            Kind::Flag => "false".into(),
            Kind::Choice { default, .. } => default.into(),
        })
}

/// How a choice's option reads.
fn choice_label(key: &str, name: &'static str) -> String {
    match key {
        "method" => MethodId::from_key(name)
            .map(|m| format!("{} — {}", m.info().label, m.info().family))
            .unwrap_or_else(|| name.into()),
        "backend" => BackendChoice::ALL
            .iter()
            .find(|(b, _)| b.key() == name)
            .map(|(_, label)| label.to_string())
            .unwrap_or_else(|| name.into()),
        _ => name.into(),
    }
}

/// A common knob's tooltip: its help, and for inputs what the current
/// generator draws.
fn tooltip(settings: &Settings, spec: &Spec) -> String {
    match spec.key {
        "inputs" => format!("{}: {}", spec.help, settings.inputs.describe()),
        _ => spec.help.to_string(),
    }
}

/// Why a common flag cannot be changed now (causal for a method that
/// cannot be causal, or that is always causal).
fn flag_blocked(settings: &Settings, key: &str) -> Option<&'static str> {
    match key {
        "causal" => settings
            .method
            .info()
            .causal_unsupported
            .or_else(|| settings.method.method().always_causal()),
        _ => None,
    }
}

/// Position of n on the power-of-two slider.
fn slider_position(n: u64) -> u32 {
    (n.max(1) as f64).log2().round() as u32
}

/// The control strip.
#[component]
pub fn Controls(settings: Memo<Settings>, update: Update) -> impl IntoView {
    view! {
        <div class="controls">
            {COMMON
                .iter()
                .map(|spec| view! { <CommonControl spec=spec settings=settings update=update/> })
                .collect_view()}
            <MethodKnobs settings=settings update=update/>
        </div>
    }
}

/// One common knob, by its kind.
#[component]
fn CommonControl(spec: &'static Spec, settings: Memo<Settings>, update: Update) -> impl IntoView {
    let value = move || current(&settings.get(), spec);
    let title = move || tooltip(&settings.get(), spec);
    let set = setter(update, spec.key);
    let testid = format!("control-{}", spec.key);
    match spec.kind {
        Kind::Choice { names, .. } => view! {
            <label class="control" title=title>
                <span>{spec.label}</span>
                <select data-testid=testid on:change=move |ev| set(event_target_value(&ev))>
                    {names()
                        .into_iter()
                        .map(|name| {
                            view! {
                                <option value=name selected=move || value() == name>
                                    {choice_label(spec.key, name)}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
        }
        .into_any(),
        Kind::Flag => view! { <FlagControl spec=spec settings=settings update=update/> }.into_any(),
        Kind::Int { min, max, .. } => {
            // The page runs n ≤ PAGE_MAX_N (the settings table's n is flt's).
            let max = if spec.key == "n" {
                max.min(PAGE_MAX_N as u64)
            } else {
                max
            };
            let slider = (spec.key == "n")
                .then(|| view! { <NSlider max=max settings=settings update=update/> });
            let class = if slider.is_some() {
                "control control-n"
            } else {
                "control"
            };
            view! {
                <label class=class title=title>
                    <span>{spec.label}</span>
                    {slider}
                    <NumberField
                        testid=testid
                        label=spec.label
                        min=min.to_string()
                        max=max.to_string()
                        step="1"
                        value=value
                        set=set
                    />
                </label>
            }
            .into_any()
        }
        Kind::Real { min, max, .. } => view! {
            <label class="control" title=title>
                <span>{spec.label}</span>
                <NumberField
                    testid=testid
                    label=spec.label
                    min=min.to_string()
                    max=max.to_string()
                    step="any"
                    value=value
                    set=set
                />
            </label>
        }
        .into_any(),
    }
}

/// A number field that commits on `change`, named `label` for screen
/// readers (it shares its `<label>` with n's slider, which takes the
/// label's name).
#[component]
fn NumberField<V, S>(
    testid: String,
    label: &'static str,
    min: String,
    max: String,
    step: &'static str,
    value: V,
    set: S,
) -> impl IntoView
where
    V: Fn() -> String + Send + Sync + 'static,
    S: Fn(String) + Send + Sync + 'static,
{
    view! {
        <input
            type="number"
            data-testid=testid
            aria-label=label
            min=min
            max=max
            step=step
            prop:value=value
            on:change=move |ev| set(event_target_value(&ev))
        />
    }
}

/// n's slider over powers of two, 2⁰ … `max`.
#[component]
fn NSlider(max: u64, settings: Memo<Settings>, update: Update) -> impl IntoView {
    let max_exponent = slider_position(max);
    let set = setter(update, "n");
    view! {
        <input
            type="range"
            data-testid="control-n-slider"
            aria-label="n, in powers of two"
            min="0"
            max=max_exponent.to_string()
            step="1"
            prop:value=move || slider_position(settings.get().n as u64).to_string()
            on:input=move |ev| {
                let exponent: u32 = event_target_value(&ev).parse().unwrap_or(8);
                set((1u64 << exponent.min(max_exponent)).to_string())
            }
        />
    }
}

/// A common on/off knob.
#[component]
fn FlagControl(spec: &'static Spec, settings: Memo<Settings>, update: Update) -> impl IntoView {
    let set = setter(update, spec.key);
    let blocked = move || flag_blocked(&settings.get(), spec.key);
    view! {
        <label
            class="control control-check"
            title=move || blocked().map(str::to_string).unwrap_or_else(|| spec.help.to_string())
        >
            <input
                type="checkbox"
                data-testid=format!("control-{}", spec.key)
                prop:checked=move || current(&settings.get(), spec) == "true"
                prop:disabled=move || blocked().is_some()
                on:change=move |ev| set(event_target_checked(&ev).to_string())
            />
            <span>{spec.label}</span>
        </label>
    }
}

/// The selected method's own knobs (rebuilt when the method changes).
#[component]
fn MethodKnobs(settings: Memo<Settings>, update: Update) -> impl IntoView {
    let method = Memo::new(move |_| settings.get().method);
    move || {
        method
            .get()
            .info()
            .params
            .iter()
            .map(|p| view! { <MethodKnob spec=*p settings=settings update=update/> })
            .collect_view()
    }
}

/// One knob of the method: a number, a flag, or a choice.
#[component]
fn MethodKnob(spec: ParamSpec, settings: Memo<Settings>, update: Update) -> impl IntoView {
    let set = setter(update, spec.key);
    let testid = format!("control-{}", spec.key);
    let value = move || settings.with(|s| s.params.get(spec.key).copied().unwrap_or(spec.default));
    if spec.is_choice() {
        let options = spec
            .choices
            .iter()
            .enumerate()
            .map(|(i, name)| {
                view! { <option value=*name selected=move || value() == i as u64>{*name}</option> }
            })
            .collect_view();
        view! {
            <label class="control" title=spec.help>
                <span>{spec.label}</span>
                <select data-testid=testid on:change=move |ev| set(event_target_value(&ev))>
                    {options}
                </select>
            </label>
        }
        .into_any()
    } else if spec.flag {
        view! {
            <label class="control control-check" title=spec.help>
                <input
                    type="checkbox"
                    data-testid=testid
                    prop:checked=move || value() != 0
                    on:change=move |ev| set(event_target_checked(&ev).to_string())
                />
                <span>{spec.label}</span>
            </label>
        }
        .into_any()
    } else {
        view! {
            <label class="control" title=spec.help>
                <span>{spec.label}</span>
                <NumberField
                    testid=testid
                    label=spec.label
                    min=spec.min.to_string()
                    max=spec.max.to_string()
                    step="1"
                    value=move || value().to_string()
                    set=set
                />
            </label>
        }
        .into_any()
    }
}
