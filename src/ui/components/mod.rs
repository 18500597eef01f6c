//! The page's components, one per file. They read settings and
//! measurements; none of them computes a kernel.

mod backend_badge;
mod controls;
mod error_law;
mod heatmap;
mod measurement_panel;
mod method_card;
mod pattern_view;
mod raw_data;
mod run_status;
mod settings_issues;

pub use backend_badge::BackendBadge;
pub use controls::Controls;
pub use error_law::ErrorLaw;
pub use heatmap::Heatmap;
pub use measurement_panel::MeasurementPanel;
pub use method_card::MethodCard;
pub use pattern_view::PatternView;
pub use raw_data::RawData;
pub use run_status::RunStatusLine;
pub use settings_issues::SettingsIssues;
