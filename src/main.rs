//! The `ctmux` binary: parse arguments, run, exit with the code the run decided.

fn main() {
    // `ctmux __supervise PROGRAM ARGS…`: the daemon's supervisor, when its own small binary is
    // not installed beside this one (see `ctmux::supervise`).
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == ctmux::supervise::MODE) {
        std::process::exit(ctmux::supervise::main(&args[2..]));
    }
    std::process::exit(ctmux::cli::run(args).code());
}
