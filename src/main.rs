//! The `ctmux` binary: parse arguments, run, exit with the code the run decided.

fn main() {
    // `COMPLETE=<shell> ctmux …`: the shell asking for completions (ctmux::cli::complete).
    clap_complete::CompleteEnv::with_factory(<ctmux::cli::args::Cli as clap::CommandFactory>::command).complete();
    std::process::exit(ctmux::cli::run(std::env::args_os()).code());
}
