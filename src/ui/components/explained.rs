//! A result number with its explanation (issue 12: "every number on the
//! page has a short explanation on hover or focus — what it counts, its
//! formula"): the number is focusable (`tabindex="0"`), carries
//! `aria-describedby` pointing at its explanation, and the explanation
//! shows as a tooltip on `:hover` and `:focus-visible` — pure CSS
//! (`assets/style.css`, `.x-num`), no script, as the page's CSP wants.
//!
//! Every lab shows its result numbers through [`Num`]; the browser test
//! `tests/browser/explained.rs` finds every digit in the result tables and
//! requires it to sit inside one, with a non-empty explanation.

use std::cell::Cell;

use leptos::prelude::*;

thread_local! {
    static NEXT: Cell<u64> = const { Cell::new(0) };
}

/// A fresh id for an explanation element.
fn next_id() -> String {
    let id = NEXT.get() + 1;
    NEXT.set(id);
    format!("x-num-{id}")
}

/// `value`, explained by `explain` (what it counts and its formula).
#[component]
pub fn Num(
    /// The number as shown (with its unit).
    #[prop(into)]
    value: String,
    /// What it counts, and how it is computed.
    #[prop(into)]
    explain: String,
    /// `data-testid` of the number, if any.
    #[prop(optional, into)]
    testid: Option<String>,
) -> impl IntoView {
    let id = next_id();
    let described_by = id.clone();
    view! {
        <span class="x-num" tabindex="0" aria-describedby=described_by data-testid=testid>
            {value}
            <span class="x-num-tip" role="tooltip" id=id>
                {explain}
            </span>
        </span>
    }
}

/// [`Num`] as a plain function, for views built in loops and tuples.
pub fn num(value: impl Into<String>, explain: impl Into<String>) -> impl IntoView {
    let (value, explain): (String, String) = (value.into(), explain.into());
    view! { <Num value=value explain=explain/> }
}
