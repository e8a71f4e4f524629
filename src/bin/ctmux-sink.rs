//! `ctmux-sink`: the small process tmux's `pipe-pane` runs for each managed pane, appending the
//! pane's output to its log (see `ctmux::sink`). A binary of its own, not `ctmux`, because 100
//! panes run 100 of them: this one links only std, libc and the sink module.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(ctmux::sink::main(&args));
}
