//! The `ctmux` binary: parse arguments, run, exit with the code the run decided.

fn main() {
    std::process::exit(ctmux::cli::run(std::env::args_os()).code());
}
