//! The page's components, one per file. The generic ones take plain data —
//! a map, a pattern, a JSON value, a job's status — so every lab reuses
//! them: [`CanvasChart`], [`Heatmap`], [`PatternView`], [`RawData`],
//! [`RunStatusLine`], [`BackendBadge`], [`SettingsIssues`], [`LabNav`]. The
//! attention lab's own: [`Controls`], [`MeasurementPanel`], [`ErrorLaw`],
//! [`MethodCard`]. None of them computes a kernel.

mod backend_badge;
mod canvas_chart;
mod controls;
mod effective_context;
mod error_law;
mod explained;
mod heatmap;
mod lab_nav;
mod measurement_panel;
mod method_card;
pub mod notices;
mod pattern_view;
mod raw_data;
mod run_status;
mod settings_issues;
mod spec_controls;
mod theme_toggle;

pub use backend_badge::{BackendBadge, BackendInfo};
pub use canvas_chart::{
    CanvasArea, CanvasChart, Export, ExportButtons, blit, download_url, plot_area,
};
pub use controls::{Controls, Update};
pub use effective_context::EffectiveContext;
pub use error_law::ErrorLaw;
pub use explained::{Num, num};
pub use heatmap::{GridNumbers, Heatmap, Pooled, ScaleToggle, grid_export};
pub use lab_nav::{LabLinks, LabNav, SiteBase, site_base};
pub use measurement_panel::MeasurementPanel;
pub use method_card::MethodCard;
pub use notices::RunNotices;
pub use pattern_view::PatternView;
pub use raw_data::RawData;
pub use run_status::{Results, RunStatusLine, state_name};
pub use settings_issues::SettingsIssues;
pub use spec_controls::{Inactive, SpecControls};
pub use theme_toggle::{ThemeToggle, theme, viewport_width};
