//! Navigation: the survey's map (`/`, the overview) and the labs of
//! [`LABS`], one link each, the current one marked (`aria-current="page"`,
//! on its sub-routes too: `/lessons/3/presenter`; `/` with a query is the
//! attention explorer, as old links are).

use leptos::prelude::*;

use super::theme_toggle::ThemeToggle;
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

/// Whether the address shows `lab` (`None`: the map).
fn shows(lab: Option<&LabInfo>, pathname: &str, search: &str, base: &str) -> bool {
    let path = pathname.strip_prefix(base).unwrap_or(pathname);
    let at_root = path.trim_end_matches('/').is_empty();
    let query = !search.trim_start_matches('?').is_empty();
    match lab {
        None => at_root && !query,
        Some(lab) => {
            let path = path.trim_end_matches('/');
            // A lab's own sub-routes (`/lessons/3/presenter`) are the lab too.
            path == lab.route
                || path
                    .strip_prefix(lab.route)
                    .is_some_and(|rest| rest.starts_with('/'))
                || (at_root && query && LABS.first() == Some(lab))
        }
    }
}

/// The header's navigation.
#[component]
pub fn LabNav() -> impl IntoView {
    let location = use_location();
    let base = site_base();
    let link = move |lab: Option<&'static LabInfo>| {
        let base = base.clone();
        let here = {
            let base = base.clone();
            move || {
                let search = location.search.get();
                location.pathname.with(|p| shows(lab, p, &search, &base))
            }
        };
        let (route, title, section, testid) = match lab {
            Some(lab) => (
                lab.route,
                lab.title,
                lab.section,
                format!("lab-{}", lab.family),
            ),
            None => (
                "/",
                "Overview",
                "The survey's map: every approach and where it runs",
                "lab-map".to_string(),
            ),
        };
        view! {
            <a
                href=format!("{base}{route}")
                title=section
                class:active=here.clone()
                aria-current=move || here().then_some("page")
                data-testid=testid
            >
                {title}
            </a>
        }
    };
    view! {
        <div class="nav-row">
            <nav class="labs" aria-label="Labs" data-testid="lab-nav">
                {link(None)}
                {LABS.iter().map(|lab| link(Some(lab))).collect_view()}
            </nav>
            <ThemeToggle/>
        </div>
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
