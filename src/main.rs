//! The `ctmux` binary: parse arguments, run, exit with the code the run decided.

fn main() {
    // `ctmux __sink …`: the log sink, when no `ctmux-sink` binary sits beside this one.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if ctmux::sink::requested(&args) {
        std::process::exit(ctmux::sink::main(&args[2..]));
    }
    // `ctmux __supervise PROGRAM ARGS…`: the daemon's supervisor, when its own small binary is
    // not installed beside this one (see `ctmux::supervise`).
    if args.get(1).is_some_and(|a| a == ctmux::supervise::MODE) {
        std::process::exit(ctmux::supervise::main(&args[2..]));
    }
    // `COMPLETE=<shell> ctmux …`: the shell asking for completions (ctmux::cli::complete).
    clap_complete::CompleteEnv::with_factory(<ctmux::cli::args::Cli as clap::CommandFactory>::command).complete();
    std::process::exit(ctmux::cli::run(args).code());
}
