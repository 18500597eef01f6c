//! Messages about settings that were invalid and what is used instead,
//! grouped ([`issue_lines`]).

use leptos::prelude::*;

use crate::settings::{SettingsIssue, issue_lines};

/// The list of settings issues (empty when all is well).
#[component]
pub fn SettingsIssues(
    #[prop(into)] issues: Signal<Vec<SettingsIssue>>,
    /// The list's test id.
    #[prop(default = "settings-issues")]
    testid: &'static str,
) -> impl IntoView {
    view! {
        <Show when=move || issues.with(|i| !i.is_empty())>
            <ul class="issues" data-testid=testid role="alert">
                {move || {
                    issues
                        .with(|i| issue_lines(i))
                        .into_iter()
                        .map(|line| view! { <li>{line}</li> })
                        .collect_view()
                }}
            </ul>
        </Show>
    }
}
