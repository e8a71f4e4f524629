//! `ctmux-supervise PROGRAM [ARGS…]`: the daemon's supervisor as a binary of its own, small in
//! memory (std and libc only); `ctmux` starts it detached and it runs the daemon as its child
//! (see `src/supervise.rs`).

// `MODE` is for `ctmux`'s own fallback only.
#[allow(dead_code)]
#[path = "../supervise.rs"]
mod supervise;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(supervise::main(&args));
}
