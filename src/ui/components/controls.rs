//! The controls: method, n (slider over powers of two and a number field),
//! d, seed, causal, backend, and the selected method's own knobs. Each writes
//! its raw value into the URL through `update`.

use leptos::prelude::*;

use crate::attention::MethodId;
use crate::inputs::{InputSource, MAX_D, MAX_N};
use crate::settings::Settings;

/// Position of n on the power-of-two slider.
fn slider_position(n: usize) -> u32 {
    (n.max(1) as f64).log2().round() as u32
}

/// The control strip.
#[component]
pub fn Controls<F>(settings: Memo<Settings>, update: F) -> impl IntoView
where
    F: Fn(&'static str, String) + 'static,
{
    let max_exponent = slider_position(MAX_N);
    // The navigation closure is not `Send`; reactive views need `Send`
    // captures, so keep it in a local arena slot and capture the handle.
    let update = StoredValue::new_local(update);
    // An emptied field is an edit in progress, not a value: it changes nothing.
    let set = move |key: &'static str| {
        move |value: String| {
            if !value.trim().is_empty() {
                update.with_value(|f| f(key, value))
            }
        }
    };
    let set_method = set("method");
    let set_n_slider = set("n");
    let set_n = set("n");
    let set_d = set("d");
    let set_seed = set("seed");
    let set_causal = set("causal");
    let set_backend = set("backend");
    let set_inputs = set("inputs");
    let set_qk_scale = set("qk-scale");
    let set_param = set;
    let causal_unsupported = move || settings.get().method.info().causal_unsupported;

    view! {
        <div class="controls">
            <label class="control">
                <span>"Method"</span>
                <select
                    data-testid="control-method"
                    on:change=move |ev| set_method(event_target_value(&ev))
                >
                    {MethodId::ALL
                        .iter()
                        .map(|&m| {
                            let info = m.info();
                            view! {
                                <option value=info.key selected=move || settings.get().method == m>
                                    {format!("{} — {}", info.label, info.family)}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
            <label class="control control-n">
                <span>"Sequence length n"</span>
                <input
                    type="range"
                    data-testid="control-n-slider"
                    min="0"
                    max=max_exponent.to_string()
                    step="1"
                    prop:value=move || slider_position(settings.get().n).to_string()
                    on:input=move |ev| {
                        let exponent: u32 = event_target_value(&ev).parse().unwrap_or(8);
                        set_n_slider((1usize << exponent.min(max_exponent)).to_string())
                    }
                />
                <input
                    type="number"
                    data-testid="control-n"
                    min="1"
                    max=MAX_N.to_string()
                    prop:value=move || settings.get().n.to_string()
                    on:change=move |ev| set_n(event_target_value(&ev))
                />
            </label>
            <label class="control">
                <span>"Head dimension d"</span>
                <input
                    type="number"
                    data-testid="control-d"
                    min="1"
                    max=MAX_D.to_string()
                    prop:value=move || settings.get().d.to_string()
                    on:change=move |ev| set_d(event_target_value(&ev))
                />
            </label>
            <label class="control">
                <span>"Seed"</span>
                <input
                    type="number"
                    data-testid="control-seed"
                    min="0"
                    prop:value=move || settings.get().seed.to_string()
                    on:change=move |ev| set_seed(event_target_value(&ev))
                />
            </label>
            <label
                class="control control-check"
                title=move || causal_unsupported().map(str::to_string).unwrap_or_default()
            >
                <input
                    type="checkbox"
                    data-testid="control-causal"
                    prop:checked=move || settings.get().causal
                    prop:disabled=move || causal_unsupported().is_some()
                    on:change=move |ev| set_causal(event_target_checked(&ev).to_string())
                />
                <span>"Causal (query i sees keys j ≤ i)"</span>
            </label>
            <label class="control" title=move || settings.get().inputs.describe()>
                <span>"Inputs"</span>
                <select data-testid="control-inputs" on:change=move |ev| set_inputs(event_target_value(&ev))>
                    {InputSource::GENERATORS
                        .into_iter()
                        .map(|g| {
                            view! {
                                <option value=g.key() selected=move || settings.get().inputs == g>
                                    {g.key()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
            <label class="control" title="Q and K are multiplied by this; the logits scale by its square">
                <span>"Q, K scale"</span>
                <input
                    type="number"
                    data-testid="control-qk-scale"
                    min="0.001"
                    max="100"
                    step="0.05"
                    prop:value=move || settings.get().qk_scale.to_string()
                    on:change=move |ev| set_qk_scale(event_target_value(&ev))
                />
            </label>
            <label class="control">
                <span>"Backend"</span>
                <select
                    data-testid="control-backend"
                    on:change=move |ev| set_backend(event_target_value(&ev))
                >
                    {[("auto", "GPU if available"), ("gpu", "GPU (WebGPU)"), ("cpu", "CPU twin")]
                        .into_iter()
                        .map(|(key, label)| {
                            view! {
                                <option value=key selected=move || settings.get().backend.key() == key>
                                    {label}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
            {move || {
                let s = settings.get();
                s.method
                    .info()
                    .params
                    .iter()
                    .map(|p| {
                        let set = set_param(p.key);
                        let value = s.params.get(p.key).copied().unwrap_or(p.default);
                        if p.is_choice() {
                            view! {
                                <label class="control" title=p.help>
                                    <span>{p.label}</span>
                                    <select
                                        data-testid=format!("control-{}", p.key)
                                        on:change=move |ev| set(event_target_value(&ev))
                                    >
                                        {p
                                            .choices
                                            .iter()
                                            .enumerate()
                                            .map(|(i, name)| {
                                                view! {
                                                    <option value=*name selected=value == i as u64>
                                                        {*name}
                                                    </option>
                                                }
                                            })
                                            .collect_view()}
                                    </select>
                                </label>
                            }
                            .into_any()
                        } else if p.flag {
                            view! {
                                <label class="control control-check" title=p.help>
                                    <input
                                        type="checkbox"
                                        data-testid=format!("control-{}", p.key)
                                        prop:checked=value != 0
                                        on:change=move |ev| set(event_target_checked(&ev).to_string())
                                    />
                                    <span>{p.label}</span>
                                </label>
                            }
                            .into_any()
                        } else {
                            view! {
                                <label class="control" title=p.help>
                                    <span>{p.label}</span>
                                    <input
                                        type="number"
                                        data-testid=format!("control-{}", p.key)
                                        min=p.min.to_string()
                                        max=p.max.to_string()
                                        prop:value=value.to_string()
                                        on:change=move |ev| set(event_target_value(&ev))
                                    />
                                </label>
                            }
                            .into_any()
                        }
                    })
                    .collect_view()
            }}
        </div>
    }
}
