//! `flt qat` — being written.

use clap::{ArgMatches, Command};

use super::Failure;

/// The subcommand.
pub fn command() -> Command {
    Command::new("qat")
        .about("QAT against PTQ on a seeded task: a 2-layer MLP trained in f32, quantized after training, and trained with fake quantization")
}

/// Runs it.
pub fn run(_m: &ArgMatches) -> Result<(), Failure> {
    Err(Failure::usage("flt qat is being written"))
}
