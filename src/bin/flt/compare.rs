//! `flt compare` — being written.

use clap::{ArgMatches, Command};

use super::Failure;

/// The subcommand.
pub fn command() -> Command {
    Command::new("compare")
        .about("The Comprehensive Comparison: every registered method at one n and d, measured on this backend")
}

/// Runs it.
pub fn run(_m: &ArgMatches) -> Result<(), Failure> {
    Err(Failure::usage("flt compare is being written"))
}
