//! `flt matmul` — being written.

use clap::{ArgMatches, Command};

use super::Failure;

/// The subcommand.
pub fn command() -> Command {
    Command::new("matmul")
        .about("The int8 matrix product (dot4I8Packed or the unpacking fallback) against the f32 product of the same shape")
}

/// Runs it.
pub fn run(_m: &ArgMatches) -> Result<(), Failure> {
    Err(Failure::usage("flt matmul is being written"))
}
