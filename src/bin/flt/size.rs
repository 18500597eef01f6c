//! `flt size` — being written.

use clap::{ArgMatches, Command};

use super::Failure;

/// The subcommand.
pub fn command() -> Command {
    Command::new("size")
        .about("Parameter count and size of a Transformer architecture at every precision")
}

/// Runs it.
pub fn run(_m: &ArgMatches) -> Result<(), Failure> {
    Err(Failure::usage("flt size is being written"))
}
