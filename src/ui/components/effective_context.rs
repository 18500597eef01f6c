//! (being written)

use leptos::prelude::*;

use crate::settings::Settings;

/// The card (empty for methods without a memory).
#[component]
pub fn EffectiveContext(settings: Memo<Settings>) -> impl IntoView {
    let _ = settings;
}
