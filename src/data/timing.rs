//! How a time was measured, the stages of a run, and the median that every
//! timed figure reports (warm-up, repeats, median: DESIGN.md, "Measurement
//! conventions").

use serde::{Deserialize, Serialize};

/// How `time_ms` was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Timing {
    /// GPU timestamp queries around the kernel's compute pass.
    GpuTimestamp,
    /// Wall clock from submission to completion (no `timestamp-query`), or
    /// the CPU's wall clock.
    WallClock,
}

/// One timed pass of a GPU program (`flt bench --pass-times`): its GPU
/// time with the passes back to back as in a timed repeat, each between its
/// own pair of timestamp queries — so the times of a program's passes add
/// up to about its own, less the gaps between passes — a median over the
/// repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassTime {
    /// The pass: the program's step and its kernel, e.g.
    /// `"nystrom.bv (sgemm.small.sgemm_vec4)"`.
    pub pass: String,
    /// Median time in milliseconds.
    pub time_ms: f64,
    /// Every repeat's time, in milliseconds.
    pub time_ms_samples: Vec<f64>,
}

/// Time of one stage of a run (e.g. the materialising path), timed like the
/// main kernel: a warm-up, then repeats, and their median.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// What ran, e.g. `"materialized: scores + softmax + P·V"`.
    pub name: String,
    /// Median time in milliseconds.
    pub time_ms: f64,
    /// Every repeat's time, in milliseconds.
    #[serde(default)]
    pub time_ms_samples: Vec<f64>,
    /// How they were measured.
    #[serde(default = "wall_clock")]
    pub timing: Timing,
    /// Bytes the stage moves through global memory (counted).
    pub bytes: u64,
    /// Device memory its buffers occupy (allocated).
    pub memory_bytes: u64,
}

fn wall_clock() -> Timing {
    Timing::WallClock
}

/// The median of a non-empty list (mean of the middle two for even lengths).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.is_empty() {
        f64::NAN
    } else if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_and_odd_lists() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
