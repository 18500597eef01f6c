//! The error law of an approximation: rel_err against its budget (Performer's
//! features m, Linformer's projection k, Nyström's landmarks L), over several
//! seeds of the method's random draws with the inputs held fixed, summarised
//! as mean ± spread per budget and compared with the slope theory gives
//! (Performer: rel_err ∝ m^−½, from the estimator's variance ∝ 1/m).
//!
//! Each point runs the method's CPU twin on the checked rows (the twins are
//! held equal to the GPU kernels by the test suite) against exact attention
//! in f64, so a sweep of dozens of runs stays interactive in the page.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::attention::full::ExactReference;
use crate::attention::{Config, MethodError, MethodId};
use crate::inputs::{Inputs, derive_seed};
use crate::measure::{errors, sample_rows};
use crate::run::{Host, RunError};
use crate::settings::Settings;

/// One budget's errors over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The budget's value.
    pub budget: u64,
    /// rel_err for each seed.
    pub rel_errs: Vec<f64>,
    /// Their mean.
    pub mean: f64,
    /// Their standard deviation.
    pub std: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl SweepPoint {
    fn from(budget: u64, rel_errs: Vec<f64>) -> SweepPoint {
        let k = rel_errs.len().max(1) as f64;
        let mean = rel_errs.iter().sum::<f64>() / k;
        let std = (rel_errs.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / k).sqrt();
        let min = rel_errs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rel_errs.iter().copied().fold(0.0, f64::max);
        SweepPoint {
            budget,
            rel_errs,
            mean,
            std,
            min,
            max,
        }
    }
}

/// A finished sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// Method key.
    pub method: String,
    /// The knob swept.
    pub knob: String,
    /// Seeds per budget.
    pub seeds: u32,
    /// One point per budget, increasing.
    pub points: Vec<SweepPoint>,
    /// The theoretical slope of log rel_err against log budget, if any.
    pub theory_slope: Option<f64>,
    /// The least-squares slope of log mean rel_err against log budget.
    pub fitted_slope: Option<f64>,
    /// The law in words.
    pub law: String,
}

/// The budgets a sweep visits: powers of two from 2 up to the knob's
/// maximum (and n for k and L).
pub fn budgets(method: MethodId, n: usize) -> Result<Vec<u64>, MethodError> {
    let info = method.info();
    let budget = info.budget.ok_or_else(|| {
        MethodError::Unsupported(format!("{} has no budget to sweep", info.label))
    })?;
    let spec = info
        .params
        .iter()
        .find(|p| p.key == budget.key)
        .ok_or_else(|| {
            MethodError::Unsupported(format!("{} has no knob {}", info.label, budget.key))
        })?;
    let cap = if budget.key == "features" {
        spec.max
    } else {
        spec.max.min(n as u64)
    };
    Ok((1..=20)
        .map(|p| 1u64 << p)
        .filter(|&b| b >= spec.min && b <= cap)
        .collect())
}

/// Least-squares slope of log y against log x.
pub fn log_log_slope(points: &[(f64, f64)]) -> Option<f64> {
    let logs: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    if logs.len() < 2 {
        return None;
    }
    let k = logs.len() as f64;
    let (mx, my) = (
        logs.iter().map(|p| p.0).sum::<f64>() / k,
        logs.iter().map(|p| p.1).sum::<f64>() / k,
    );
    let sxx: f64 = logs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = logs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// Sweeps `settings.method`'s budget over `budgets`, `seeds` draws each,
/// on `inputs`; `on_point` sees each point as it completes (the page draws
/// progressively). Yields to the host between runs.
pub async fn sweep(
    settings: &Settings,
    inputs: &Inputs,
    budgets: &[u64],
    seeds: u32,
    host: &dyn Host,
    mut on_point: impl FnMut(&SweepPoint),
) -> Result<Sweep, RunError> {
    let method = settings.method;
    let info = method.info();
    let budget = info.budget.ok_or_else(|| {
        MethodError::Unsupported(format!("{} has no budget to sweep", info.label))
    })?;
    let rows = sample_rows(inputs.n());
    let exact = ExactReference::new(
        inputs.q.view(),
        inputs.k.view(),
        inputs.v.view(),
        settings.causal,
    )
    .rows(&rows);
    let total = budgets.len() * seeds as usize;
    let mut points = Vec::with_capacity(budgets.len());
    for (b_idx, &b) in budgets.iter().enumerate() {
        let mut params = settings.params.clone();
        params.insert(budget.key.to_string(), b);
        let mut rel_errs = Vec::with_capacity(seeds as usize);
        for s in 0..seeds {
            let config = Config {
                causal: settings.causal,
                seed: derive_seed(settings.seed, "sweep", s as u64),
                params: &params,
            };
            let twin = method.method().cpu_twin(inputs, &config)?;
            let mut out = Array2::zeros((rows.len(), inputs.dv()));
            for (slot, &i) in rows.iter().enumerate() {
                twin.compute_rows(
                    i..i + 1,
                    out.slice_mut(ndarray::s![slot..slot + 1, ..]),
                    None,
                );
            }
            let e = errors(out.view(), exact.view()).rel_err;
            if !e.is_finite() {
                return Err(RunError::NotFinite(format!(
                    "rel_err at {}={b}",
                    budget.key
                )));
            }
            rel_errs.push(e);
            host.progress(
                &format!("{} = {b}, seed {}", budget.key, s + 1),
                (b_idx * seeds as usize + s as usize + 1) as f64 / total as f64,
            );
            host.yield_now().await;
            if host.cancelled() {
                return Err(RunError::Cancelled);
            }
        }
        let point = SweepPoint::from(b, rel_errs);
        on_point(&point);
        points.push(point);
    }
    let fitted = log_log_slope(
        &points
            .iter()
            .map(|p| (p.budget as f64, p.mean))
            .collect::<Vec<_>>(),
    );
    Ok(Sweep {
        method: info.key.into(),
        knob: budget.key.into(),
        seeds,
        points,
        theory_slope: budget.slope,
        fitted_slope: fitted,
        law: budget.law.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Quiet;

    #[test]
    fn budgets_are_powers_of_two_within_the_knob() {
        assert_eq!(
            budgets(MethodId::Nystrom, 40).unwrap(),
            vec![2, 4, 8, 16, 32]
        );
        assert_eq!(
            budgets(MethodId::Performer, 40).unwrap().last(),
            Some(&1024)
        );
        assert!(budgets(MethodId::Full, 40).is_err());
    }

    #[test]
    fn slope_of_a_power_law() {
        let pts: Vec<(f64, f64)> = [4.0, 16.0, 64.0]
            .iter()
            .map(|&x| (x, 3.0 * f64::powf(x, -0.5)))
            .collect();
        assert!((log_log_slope(&pts).unwrap() + 0.5).abs() < 1e-12);
        assert_eq!(log_log_slope(&[(1.0, 1.0)]), None);
    }

    #[test]
    fn performer_sweep_follows_its_law_at_small_scale() {
        let (settings, _) = Settings::from_query("method=performer&n=64&d=16&qk-scale=0.25&seed=3");
        let inputs = Inputs::generate(settings.inputs, 64, 16, 3, 0.25);
        let mut seen = 0;
        let s = pollster::block_on(sweep(&settings, &inputs, &[8, 32, 128], 4, &Quiet, |_| {
            seen += 1
        }))
        .unwrap();
        assert_eq!((seen, s.points.len()), (3, 3));
        assert!(
            s.points
                .iter()
                .all(|p| p.rel_errs.len() == 4 && p.min <= p.mean && p.mean <= p.max)
        );
        let slope = s.fitted_slope.unwrap();
        assert!((-0.75..=-0.3).contains(&slope), "slope {slope}");
        assert_eq!(s.theory_slope, Some(-0.5));
    }
}
