//! Navigation between the labs of [`LABS`]: one link each, the current one
//! marked (`aria-current="page"`; `/` is the first lab).

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::pipeline::labs::{LABS, LabInfo};

/// The path the site is served under (`""` at a domain's root), provided
/// by the app for links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteBase(pub String);

/// The site's base path, `""` when none was provided.
pub fn site_base() -> String {
    use_context::<SiteBase>().unwrap_or_default().0
}

/// Whether `pathname` shows `lab`.
fn shows(lab: &LabInfo, pathname: &str, base: &str) -> bool {
    let path = pathname.strip_prefix(base).unwrap_or(pathname);
    path.trim_end_matches('/') == lab.route
        || (path.trim_end_matches('/').is_empty() && LABS.first() == Some(lab))
}

/// The header's navigation.
#[component]
pub fn LabNav() -> impl IntoView {
    let location = use_location();
    let base = site_base();
    view! {
        <nav class="labs" aria-label="Labs" data-testid="lab-nav">
            {LABS
                .iter()
                .map(|lab| {
                    let base = base.clone();
                    let here = {
                        let base = base.clone();
                        move || location.pathname.with(|p| shows(lab, p, &base))
                    };
                    view! {
                        <a
                            href=format!("{base}{}", lab.route)
                            title=lab.section
                            class:active=here.clone()
                            aria-current=move || here().then_some("page")
                            data-testid=format!("lab-{}", lab.family)
                        >
                            {lab.title}
                        </a>
                    }
                })
                .collect_view()}
        </nav>
    }
}

/// Every lab as a list of links with its survey section.
#[component]
pub fn LabLinks() -> impl IntoView {
    let base = site_base();
    view! {
        <ul>
            {LABS
                .iter()
                .map(|lab| {
                    view! {
                        <li>
                            <a href=format!("{base}{}", lab.route)>{lab.title}</a>
                            {format!(" — {}", lab.section)}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}
