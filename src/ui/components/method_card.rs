//! What the selected method is: its defining equations as the survey
//! writes them (MathML, rendered natively by the browser, no script), its
//! time and space complexity with their source, what the survey recommends
//! it for, its paper, and how it runs (all of it declared once in the method
//! registry, [`crate::attention::MethodInfo`]).

use leptos::prelude::*;

use crate::attention::MethodId;

/// The method description card.
#[component]
pub fn MethodCard(#[prop(into)] method: Signal<MethodId>) -> impl IntoView {
    view! {
        <section class="card method-card" data-testid="method-card">
            {move || {
                let info = method.get().info();
                let c = info.complexity;
                view! {
                    <h2>{format!("{} ({})", info.label, info.family)}</h2>
                    <div
                        class="equations"
                        data-testid="method-equations"
                        role="group"
                        tabindex="0"
                        aria-label=info.equation
                        inner_html=info.mathml
                    ></div>
                    <table class="figure-table complexity" data-testid="method-complexity">
                        <tbody>
                            <tr>
                                <th>"time"</th>
                                <td>{c.time}</td>
                                <th>"space"</th>
                                <td>{c.space}</td>
                                <td class="muted">{c.source}</td>
                            </tr>
                            <tr>
                                <th>"best for"</th>
                                <td colspan="4">{info.best_for}</td>
                            </tr>
                        </tbody>
                    </table>
                    <p class="muted">{info.paper}</p>
                    <p>{info.explanation}</p>
                }
            }}
        </section>
    }
}
