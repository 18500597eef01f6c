//! The configuration editor, generated from the settings table
//! ([`crate::settings::model_size`]): the model preset, each configuration
//! field (a number, a flag or a choice) showing the current value and the
//! preset's beside an edited one, and the headline precision. Each control
//! writes its raw text into the URL, so a bad entry gets the URL's message.

use leptos::prelude::*;

use crate::compress::size::presets::PRESETS;
use crate::compress::size::{Precision, preset};
use crate::settings::model_size::{CONFIG, MODEL, ModelSizeSettings, PRECISION, field};
use crate::settings::{Kind, Spec};
use crate::ui::components::Update;

/// A control's setter of `key`: an emptied field is an edit in progress,
/// not a value, and changes nothing.
pub fn setter(update: Update, key: &'static str) -> impl Fn(String) + Copy + Send + Sync + 'static {
    move |value: String| {
        if !value.trim().is_empty() {
            update.with_value(|f| f(key, value))
        }
    }
}

/// The model presets as options, with their sizes.
pub fn model_options(
    selected: Signal<&'static str>,
    extra: Option<(&'static str, &'static str)>,
) -> impl IntoView {
    let presets = PRESETS.iter().map(move |p| {
        view! { <option value=p.key selected=move || selected.get() == p.key>{p.label}</option> }
    });
    let extra = extra.map(|(key, label)| {
        view! { <option value=key selected=move || selected.get() == key>{label}</option> }
    });
    view! {
        {presets.collect_view()}
        {extra}
    }
}

/// The editor.
#[component]
pub fn ConfigEditor(settings: Memo<ModelSizeSettings>, update: Update) -> impl IntoView {
    let model = Signal::derive(move || settings.with(|s| s.model));
    let set_model = setter(update, MODEL.key);
    let set_precision = setter(update, PRECISION.key);
    let precision = move || settings.with(|s| s.precision);
    view! {
        <div class="size-controls">
            <label class="control control-wide" title="model preset: its configuration from the released checkpoint's config.json">
                <span>{MODEL.label}</span>
                <select data-testid="model-select" on:change=move |ev| set_model(event_target_value(&ev))>
                    {model_options(model, None)}
                </select>
            </label>
            <label class="control" title=PRECISION.help>
                <span>{PRECISION.label}</span>
                <select data-testid="precision" on:change=move |ev| set_precision(event_target_value(&ev))>
                    {Precision::ALL
                        .iter()
                        .map(|&p| {
                            view! {
                                <option value=p.key() selected=move || precision() == p>
                                    {format!("{} ({} bit{})", p.label(), p.bits(), if p.bits() == 1 { "" } else { "s" })}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
        </div>
        <div class="size-controls fields">
            {CONFIG
                .iter()
                .map(|spec| view! { <Field spec=spec settings=settings update=update/> })
                .collect_view()}
        </div>
        <p class="muted small">
            "Fields start at the model's values; an edited field is marked and the model becomes "
            <em>"custom"</em>" (the preset's value is shown beside it). Choosing another model resets them."
        </p>
    }
}

/// The preset's value of `key`, when the current one differs.
fn edited(settings: &ModelSizeSettings, key: &str) -> Option<String> {
    let ours = field(&settings.arch, key);
    let theirs = preset(settings.model).and_then(|p| field(&p.arch, key));
    (ours != theirs).then_some(theirs).flatten()
}

/// One configuration field, by its kind.
#[component]
fn Field(spec: &'static Spec, settings: Memo<ModelSizeSettings>, update: Update) -> impl IntoView {
    let key = spec.key;
    let value = move || settings.with(|s| field(&s.arch, key).unwrap_or_default());
    let was = Memo::new(move |_| settings.with(|s| edited(s, key)));
    let set = setter(update, key);
    let note = move || {
        was.get()
            .map(|v| view! { <span class="was" data-testid=format!("{key}-preset")>{format!("preset: {v}")}</span> })
    };
    let input = match spec.kind {
        Kind::Flag => view! {
            <input
                type="checkbox"
                data-testid=key
                prop:checked=move || value() == "true"
                on:change=move |ev| set(event_target_checked(&ev).to_string())
            />
        }
        .into_any(),
        Kind::Choice { names, .. } => view! {
            <select data-testid=key on:change=move |ev| set(event_target_value(&ev))>
                {names()
                    .into_iter()
                    .map(|name| view! { <option value=name selected=move || value() == name>{name}</option> })
                    .collect_view()}
            </select>
        }
        .into_any(),
        Kind::Int { min, max, .. } => view! {
            <input
                type="number"
                data-testid=key
                min=min.to_string()
                max=max.to_string()
                step="1"
                prop:value=value
                on:change=move |ev| set(event_target_value(&ev))
            />
        }
        .into_any(),
        Kind::Real { .. } => ().into_any(),
    };
    let flag = matches!(spec.kind, Kind::Flag);
    let class = move || {
        let base = if flag {
            "control control-check"
        } else {
            "control"
        };
        if was.with(Option::is_some) {
            format!("{base} edited")
        } else {
            base.to_string()
        }
    };
    let name = view! { <span>{spec.label}</span> };
    let (first, second) = if flag {
        (input, name.into_any())
    } else {
        (name.into_any(), input)
    };
    view! {
        <label class=class title=spec.help>
            {first}
            {second}
            {note}
        </label>
    }
}
