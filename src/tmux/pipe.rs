//! The one place that starts a managed pane's log sink: `pipe-pane` into `ctmux-sink` (or
//! `ctmux __sink` when no `ctmux-sink` sits beside the running `ctmux`). Callers put
//! [`pipe`] in the same tmux call, right after the command that creates or respawns the pane:
//! tmux runs a call's whole command list before it reads any pane's output, so no byte the new
//! process writes comes before the pipe.
//!
//! Facts of tmux 3.3a this relies on (cmd-pipe-pane.c, window.c, spawn.c): the command is
//! format-expanded (`#{socket_path}`, `#{pane_pid}`) and run by `/bin/sh -c` with stdin a socket
//! carrying the pane's output from the moment of the command, stdout/stderr `/dev/null`, other
//! descriptors closed, and the tmux server's environment; a new `pipe-pane` closes the pane's
//! previous pipe first (its sink gets EOF); `respawn-pane` keeps a pipe open; a pane with a pipe
//! is destroyed only once its pty is drained into the pipe (`window_pane_destroy_ready`), which
//! is what keeps the last words of a process that prints and exits; `pipe-pane` on a dead pane
//! fails ("target pane has exited").

use std::path::{Path, PathBuf};

use super::Cmd;
use super::command::{literal, sh_quote};

/// The sink program: `ctmux-sink` beside the running executable, else `ctmux __sink`.
pub fn program() -> Vec<String> {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("ctmux"));
    let beside = exe.with_file_name("ctmux-sink");
    if beside.is_file() {
        vec![beside.to_string_lossy().into_owned()]
    } else {
        vec![exe.to_string_lossy().into_owned(), crate::sink::SUBCOMMAND.into()]
    }
}

/// `argv` run by the sink binary's runner ([`crate::sink::run_wrapped`]): the pane's process
/// exits only once its output has reached the sink. Returns the runner's argv and the `-e`
/// entry that carries the command: the runner lives as long as the pane's command, and a
/// command in its argv (with any interpolated value) would be readable by every local user.
pub fn wrapped(argv: Vec<String>) -> (Vec<String>, String) {
    let mut out = program();
    out.push(crate::sink::RUN.into());
    (out, format!("{}={}", crate::sink::RUN_ENV, crate::sink::encode_argv(&argv)))
}

/// The `sh -c` command line tmux runs for a pane logged at `rel` (`project/session/pane.log`).
pub fn sink_command(root: &Path, rel: &str) -> String {
    let mut words: Vec<String> = program().iter().map(|w| literal(&sh_quote(w))).collect();
    for (i, arg) in crate::sink::command_args(root, rel, crate::daemon::paths::log_cap()).into_iter().enumerate() {
        // The formats (argument 1 and 4) are for tmux to expand; everything else is literal.
        words.push(if i == 1 || i == 4 { sh_quote(&arg) } else { literal(&sh_quote(&arg)) });
    }
    format!("exec {}", words.join(" "))
}

/// `pipe-pane` of pane `target` into the sink for the log of `project`'s pane `address`.
pub fn pipe(target: &str, project: &str, address: &str) -> Cmd {
    let root = crate::daemon::paths::logs_root();
    Cmd::new("pipe-pane").args(["-t", target, &sink_command(&root, &crate::daemon::paths::log_rel(project, address))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_quotes_literals_and_leaves_formats_to_tmux() {
        let cmd = sink_command(Path::new("/s/lo#gs"), "p/s/a b.log");
        assert!(cmd.starts_with("exec "), "{cmd}");
        assert!(cmd.contains(" '/s/lo##gs' "), "{cmd}");
        assert!(cmd.contains(" '#{socket_path}' 'p/s/a b.log' "), "{cmd}");
        assert!(cmd.ends_with(" '#{pane_pid}'"), "{cmd}");
    }
}
