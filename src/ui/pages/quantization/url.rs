//! The quantization page's URL query holds every section's settings: the
//! weight quantizer's own keys (`bits`, `format`, …, as the issue names
//! them) and the other sections' prefixed ones (`qa-…`, `int8-…`,
//! `qat-…`). A section reads its keys and rewrites only them, so changing
//! one section keeps the others' settings in the link.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};

use crate::settings::quantization::Section;
use crate::ui::components::Update;

/// A section's settings after a control sets `key` to the raw text.
pub type Rewrite = fn(&[(String, String)], &str, &str) -> Vec<(String, String)>;

/// The section's pairs as a memo of the location, and the update that
/// rewrites them: `update(key, raw)` puts `rewrite(current pairs, key,
/// raw)` in place of the section's pairs (replacing the history entry).
pub fn section_query(section: Section, rewrite: Rewrite) -> (Memo<Vec<(String, String)>>, Update) {
    let location = use_location();
    let search = location.search;
    let pairs = Memo::new(move |_| section.pairs(&search.get()));
    let navigate = use_navigate();
    let pathname = location.pathname;
    let update: Box<dyn Fn(&'static str, String)> = Box::new(move |key, value| {
        let now = search.get_untracked();
        let next = rewrite(&section.pairs(&now), key, &value);
        let url = format!(
            "{}?{}",
            pathname.get_untracked(),
            section.replace(&now, &next)
        );
        navigate(
            &url,
            NavigateOptions {
                resolve: false,
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    });
    (pairs, StoredValue::new_local(update))
}
