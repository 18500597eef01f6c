//! The flash kernel's autotuner: its policy and its cache.
//!
//! The flash kernel ([`super::flash_attention`]) has a small set of candidate
//! configurations (tile sizes, threads, micro-tile, subgroup reductions or
//! not) that fit an adapter's limits. Which is fastest depends on the
//! hardware, so the autotuner times each once on a representative shape
//! ([`super::flash_attention::tune`]) and keeps the winner per adapter, keyed
//! by adapter name, driver, backend, the width bucket of d (32, 64, 128) and
//! causality ([`key`]): in memory for the process and, natively, in a JSON
//! file under `$XDG_CACHE_HOME/flt/` (or `~/.cache/flt/`) so later runs skip
//! the tuning.
//!
//! It is never on by surprise: [`Autotune::Off`] (the fixed default
//! configuration) is the default of every run; the CLI asks for
//! [`Autotune::Auto`] unless `--no-autotune` or `FLT_AUTOTUNE=0`, and Auto
//! does not tune on a CPU adapter (lavapipe, SwiftShader).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::GpuContext;
use super::flash_attention::FlashConfig;

/// How the flash kernel's configuration is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Autotune {
    /// The fixed default configuration (the first candidate that fits).
    #[default]
    Off,
    /// The cached choice for this adapter, tuning once if there is none —
    /// except on a CPU adapter or with `FLT_AUTOTUNE=0`, where the default
    /// runs.
    Auto,
    /// As `Auto`, on any adapter and whatever `FLT_AUTOTUNE` says (tests
    /// of the tuner itself).
    Force,
}

impl Autotune {
    /// Whether this policy tunes on `ctx` (and why not, if it does not).
    pub fn applies(self, ctx: &GpuContext) -> Result<(), &'static str> {
        match self {
            Autotune::Off => Err("autotuning off"),
            Autotune::Force => Ok(()),
            Autotune::Auto if disabled_by_env() => Err("autotuning off (FLT_AUTOTUNE=0)"),
            Autotune::Auto if ctx.device_type == "Cpu" => {
                Err("no autotuning on a CPU adapter (software rendering)")
            }
            Autotune::Auto => Ok(()),
        }
    }
}

/// Whether `FLT_AUTOTUNE` turns the tuner off (`0`, `false`, `off`, `no`).
pub fn disabled_by_env() -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::env::var("FLT_AUTOTUNE").is_ok_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "0" | "false" | "off" | "no"
            )
        })
    }
    #[cfg(target_arch = "wasm32")]
    {
        false
    }
}

/// The width bucket a problem of widths d, dᵥ is tuned in: the smallest of
/// 32, 64, 128 that holds both (`None` beyond 128).
pub fn bucket(d: usize, dv: usize) -> Option<u32> {
    let w = d.max(dv);
    [32u32, 64, 128].into_iter().find(|&b| w <= b as usize)
}

/// The cache key: adapter name, driver, backend, width bucket and causality.
pub fn key(ctx: &GpuContext, bucket: u32, causal: bool) -> String {
    format!(
        "{} | {} | {} | d ≤ {bucket} | {}",
        ctx.adapter_name,
        ctx.driver,
        ctx.api,
        if causal { "causal" } else { "non-causal" }
    )
}

/// One tuned choice: the winner, the shape it was timed on and every
/// candidate's median time (milliseconds; `None`: it failed or disagreed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuned {
    /// The fastest configuration.
    pub config: FlashConfig,
    /// The shape timed, e.g. "B·H = 16, n = 4096, d = dᵥ = 64".
    pub shape: String,
    /// Each candidate's name and median time.
    pub timings: Vec<(String, Option<f64>)>,
}

impl Tuned {
    /// One line naming the timings, fastest first.
    pub fn summary(&self) -> String {
        let mut sorted: Vec<&(String, Option<f64>)> = self.timings.iter().collect();
        sorted.sort_by(|a, b| {
            a.1.unwrap_or(f64::INFINITY)
                .total_cmp(&b.1.unwrap_or(f64::INFINITY))
        });
        let times: Vec<String> = sorted
            .iter()
            .map(|(name, ms)| match ms {
                Some(ms) => format!("{name}: {ms:.4} ms"),
                None => format!("{name}: failed"),
            })
            .collect();
        format!("at {}: {}", self.shape, times.join("; "))
    }
}

/// The cache file's content: a schema version and the choices by key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheFile {
    /// [`CACHE_VERSION`] when written by this build.
    pub version: u32,
    /// Tuned choices by [`key`].
    pub entries: BTreeMap<String, Tuned>,
}

/// Bumped when the kernel or its candidates change meaning, so old choices
/// are tuned again rather than trusted (2: the compact layout and 64 × 64
/// tiles joined the candidates; a version-1 choice never tried them).
pub const CACHE_VERSION: u32 = 2;

/// Where a cached choice came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Tuned earlier in this process.
    Memory,
    /// Read from the cache file.
    File,
}

static MEMORY: Mutex<BTreeMap<String, Tuned>> = Mutex::new(BTreeMap::new());
static PATH_OVERRIDE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Puts the cache file at `path` for the rest of the process (`None`: back
/// to the default), and forgets the choices held in memory — the tests of
/// the tuner use a temporary folder, never the user's cache.
pub fn use_cache_file(path: Option<PathBuf>) {
    if let Ok(mut p) = PATH_OVERRIDE.lock() {
        *p = path;
    }
    if let Ok(mut m) = MEMORY.lock() {
        m.clear();
    }
}

/// The cache file: `$XDG_CACHE_HOME/flt/autotune.json`, else
/// `$HOME/.cache/flt/autotune.json` (`None` on the web or with neither set).
pub fn cache_path() -> Option<PathBuf> {
    if let Some(p) = PATH_OVERRIDE.lock().ok().and_then(|p| p.clone()) {
        return Some(p);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let base = nonempty("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| nonempty("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("flt").join("autotune.json"))
    }
    #[cfg(target_arch = "wasm32")]
    {
        None
    }
}

/// The cache at `path`: empty when missing, unreadable, malformed or of
/// another version (it is then rebuilt, never trusted).
pub fn load(path: &Path) -> CacheFile {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<CacheFile>(&text).ok())
        .filter(|c| c.version == CACHE_VERSION)
        .unwrap_or_default()
}

/// Adds (or replaces) `key` in the cache at `path`, creating its folder;
/// written to a temporary file and renamed, so a reader never sees half a file.
pub fn store(path: &Path, key: &str, tuned: &Tuned) -> std::io::Result<()> {
    let mut cache = load(path);
    cache.version = CACHE_VERSION;
    cache.entries.insert(key.to_string(), tuned.clone());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(&cache).map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// The cached choice for `key`: this process's, else the cache file's (then
/// remembered in memory).
pub fn lookup(key: &str) -> Option<(Tuned, Source)> {
    if let Some(t) = MEMORY.lock().ok()?.get(key) {
        return Some((t.clone(), Source::Memory));
    }
    let tuned = load(&cache_path()?).entries.remove(key)?;
    if let Ok(mut m) = MEMORY.lock() {
        m.insert(key.to_string(), tuned.clone());
    }
    Some((tuned, Source::File))
}

/// Forgets `key` in this process (a cached choice that no longer fits).
pub fn forget(key: &str) {
    if let Ok(mut m) = MEMORY.lock() {
        m.remove(key);
    }
}

/// Keeps a fresh choice in memory and in the cache file; a file that cannot
/// be written is reported (the choice still holds for this process).
pub fn remember(key: &str, tuned: &Tuned) -> Result<(), String> {
    if let Ok(mut m) = MEMORY.lock() {
        m.insert(key.to_string(), tuned.clone());
    }
    match cache_path() {
        Some(path) => store(&path, key, tuned).map_err(|e| format!("{}: {e}", path.display())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_both_widths() {
        assert_eq!(bucket(1, 1), Some(32));
        assert_eq!(bucket(40, 16), Some(64));
        assert_eq!(bucket(16, 100), Some(128));
        assert_eq!(bucket(128, 128), Some(128));
        assert_eq!(bucket(129, 8), None);
    }
}
