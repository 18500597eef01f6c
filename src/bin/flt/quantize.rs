//! `flt quantize` — being written.

use clap::{ArgMatches, Command};

use super::Failure;

/// The subcommand.
pub fn command() -> Command {
    Command::new("quantize").about("Quantize a weight matrix and print the error figures")
}

/// Runs it.
pub fn run(_m: &ArgMatches) -> Result<(), Failure> {
    Err(Failure::usage("flt quantize is being written"))
}
