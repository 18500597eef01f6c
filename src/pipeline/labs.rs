//! The registry of labs: each family of the survey the app runs, with its
//! route on the page. Adding a lab is its files plus one line here and one
//! route in `ui/app.rs`.

/// A lab as the navigation lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabInfo {
    /// The family key of its reports (`"attention"`).
    pub family: &'static str,
    /// Its route on the page (`"/attention"`).
    pub route: &'static str,
    /// Its title.
    pub title: &'static str,
    /// The survey section it brings to life.
    pub section: &'static str,
}

/// Every lab, in navigation order.
pub const LABS: &[LabInfo] = &[
    LabInfo {
        family: "attention",
        route: "/attention",
        title: "Efficient attention",
        section: "Efficient attention mechanisms: sparse, low-rank, kernel",
    },
    LabInfo {
        family: "compare",
        route: "/compare",
        title: "Compare",
        section: "Comprehensive Comparison: every method measured on this GPU, beside the survey's table",
    },
    LabInfo {
        family: "scaling",
        route: "/scaling",
        title: "Scaling",
        section: "Is it actually faster? Time and memory against n, fitted exponents and crossovers",
    },
    LabInfo {
        family: "quantization",
        route: "/compression/quantization",
        title: "Quantization",
        section: "Quantization: PTQ at every bit width and granularity, QAT, int8 products",
    },
    LabInfo {
        family: "model-size",
        route: "/compression/model-size",
        title: "Model size",
        section: "Weight sharing, model sizes and combining techniques",
    },
    LabInfo {
        family: "lessons",
        route: "/lessons",
        title: "Lessons",
        section: "A guided path through the survey in order: one claim and one live run per step",
    },
];
