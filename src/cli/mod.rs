//! The command line: turn arguments into a [`Ctx`], run one verb, render its result or error.
//!
//! Verbs live one per file under `commands/`; each returns data or an [`Error`], and this module
//! alone decides how that is printed (human or `--json`) and which exit code it means.

pub mod args;
pub mod commands;
pub mod complete;
pub mod output;

use std::ffi::OsString;
use std::io::IsTerminal;

use crate::error::Error;
use crate::exit::Exit;
pub use output::Ctx;

/// Runs ctmux with `args` (including argv[0]) and returns the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> Exit {
    output::quiet_on_broken_pipe();
    let called_ms = crate::process::started_ms().unwrap_or_else(|| crate::store::now_ms().max(0) as u64);
    let cli = match args::parse(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => Exit::Ok,
                _ => Exit::Usage,
            };
        }
    };
    let color = !cli.global.no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stderr().is_terminal();
    let ctx = Ctx { global: cli.global.clone(), color, called_ms };
    match commands::dispatch(&ctx, cli.command) {
        Ok(exit) => exit,
        Err(err) => {
            output::print_error(&ctx, &err);
            err.exit()
        }
    }
}

/// Shorthand for verb results.
pub type Result<T = Exit> = std::result::Result<T, Error>;
