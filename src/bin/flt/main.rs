//! `flt`: the native CLI. It runs the same kernels as the page, headless, on
//! any wgpu backend (Vulkan, Metal, DX12) or the CPU twin.
//!
//! ```text
//! flt run --method full --n 1024 --d 64 --seed 1 [--causal] [--backend gpu|cpu] [--json]
//! flt run --q q.npy --k k.npy --v v.npy --out o.npy [--causal] [--json]
//! flt bench --methods full --n 256,512,1024 --d 64 --backend gpu --repeats 5 --json
//! flt bench --kernel sgemm --n 4096 [--m M --k K] --warmup-ms 1000 --json
//! flt bench --kernel flash-f16 --n 4096 --d 64 --heads 16 [--causal] --json
//! flt sweep --method performer --n 256 --d 32 --qk-scale 0.25 --seeds 5
//! flt methods
//! ```
//!
//! Flags carry the same names as the page's URL parameters, are generated
//! from the same table ([`flt_explorer::settings::COMMON`] and the method
//! registry) and go through the same parser. Bad flags or input files exit
//! with status 2 and a message; a GPU failure exits with 1. Output that
//! cannot be written — a closed pipe (`flt methods | head -1`), a full
//! disk — ends the program with a one-line message (status 141 for the
//! pipe, as SIGPIPE would, 1 otherwise), never a panic.
//!
//! ```text
//! flt quantize --in w.npy --out wq.npy --bits 4 --granularity group --group-size 128 --json
//! flt size --model albert-base --json
//! flt matmul --m 4096 --k 4096 --n 4096 --backend gpu --json
//! flt qat --seed 1 --backend gpu
//! flt compare --n 4096 --d 64 --json
//! ```

#[cfg(not(target_arch = "wasm32"))]
mod args;
#[cfg(not(target_arch = "wasm32"))]
mod commands;
#[cfg(not(target_arch = "wasm32"))]
mod compare;
#[cfg(not(target_arch = "wasm32"))]
mod flash_f16;
#[cfg(not(target_arch = "wasm32"))]
mod matmul;
#[cfg(not(target_arch = "wasm32"))]
mod print;
#[cfg(not(target_arch = "wasm32"))]
mod qat;
#[cfg(not(target_arch = "wasm32"))]
mod quantize;
#[cfg(not(target_arch = "wasm32"))]
mod sgemm;
#[cfg(not(target_arch = "wasm32"))]
mod size;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    exit_cleanly_when_output_fails();
    let matches = args::command().get_matches();
    let result = match matches.subcommand() {
        Some(("run", m)) => commands::run(m),
        Some(("bench", m)) => commands::bench(m),
        Some(("sweep", m)) => commands::sweep(m),
        Some(("quantize", m)) => quantize::run(m),
        Some(("size", m)) => size::run(m),
        Some(("qat", m)) => qat::run(m),
        Some(("matmul", m)) => matmul::run(m),
        Some(("compare", m)) => compare::run(m),
        Some(("methods", _)) => {
            print::methods();
            Ok(())
        }
        _ => Err(Failure::usage("unknown command; see flt --help")),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("flt: {}", f.message);
            std::process::ExitCode::from(f.status)
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}

/// `println!` panics when standard output cannot be written (Rust ignores
/// SIGPIPE, so a closed pipe is an error like a full disk): turn that one
/// panic into a message and an exit status; any other panic is reported as
/// usual.
#[cfg(not(target_arch = "wasm32"))]
fn exit_cleanly_when_output_fails() {
    let usual = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        let Some(why) = message.strip_prefix("failed printing to stdout: ") else {
            usual(info);
            return;
        };
        if why.contains("Broken pipe") {
            eprintln!("flt: standard output was closed before everything was written");
            std::process::exit(141);
        }
        eprintln!("flt: cannot write to standard output: {why}");
        std::process::exit(1);
    }));
}

/// A failure and the exit status it maps to.
#[cfg(not(target_arch = "wasm32"))]
pub struct Failure {
    status: u8,
    message: String,
}

#[cfg(not(target_arch = "wasm32"))]
impl Failure {
    /// A bad flag or input file: exit status 2.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            status: 2,
            message: message.into(),
        }
    }

    /// A failure while running (GPU, writing a file): exit status 1.
    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure {
            status: 1,
            message: message.into(),
        }
    }

    /// A GPU error: a size past the adapter's limits is a usage error (the
    /// flags asked for it), anything else a runtime failure.
    pub fn gpu(e: flt_explorer::gpu::GpuError) -> Failure {
        match e {
            flt_explorer::gpu::GpuError::TooLarge { .. } => Failure::usage(e.to_string()),
            other => Failure::runtime(other.to_string()),
        }
    }
}
