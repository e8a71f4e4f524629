//! What a pane runs now, from `/proc`: the full argv of the foreground process group of the
//! pane's terminal (tmux's `#{pane_current_command}` is only the program's name, which is how
//! `tmux freeze`-style tools lose `python3 -m http.server 8000`).

use crate::process::cmdline;

/// Programs that are shells: a pane whose foreground process is its own shell is idle.
const SHELLS: [&str; 13] =
    ["sh", "bash", "zsh", "fish", "dash", "ksh", "mksh", "tcsh", "csh", "ash", "nu", "elvish", "xonsh"];

/// What runs in a pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Running {
    /// The pane's shell waits for input: restored as a plain shell.
    IdleShell,
    /// A program runs: its argv, and whether a shell started it (then a shell stays after it).
    Program {
        /// Full argv.
        argv: Vec<String>,
        /// The pane's own process is a shell that ran this program.
        under_shell: bool,
    },
    /// `/proc` could not tell (the process is gone or not readable).
    Unknown,
}

/// Whether `argv0` names a shell (`-bash` for a login shell, `/bin/zsh`, or `default_shell`).
pub fn is_shell(argv0: &str, default_shell: &str) -> bool {
    let base = argv0.trim_start_matches('-').rsplit('/').next().unwrap_or_default();
    let default_base = default_shell.rsplit('/').next().unwrap_or_default();
    SHELLS.contains(&base) || (!default_base.is_empty() && base == default_base)
}

/// What pane process `pid` runs now: the leader of its terminal's foreground process group.
/// A pane created a moment ago may still be tmux's fork, not yet the program it will exec: that
/// is waited out (up to half a second) rather than recorded as a `tmux` command.
pub fn running(pid: u32, default_shell: &str) -> Running {
    for _ in 0..20 {
        let now = running_now(pid, default_shell);
        let forking = matches!(&now, Running::Program { argv, .. }
            if argv[0].rsplit('/').next().is_some_and(|b| b == "tmux" || b.starts_with("tmux:")));
        if !forking {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    Running::Unknown
}

fn running_now(pid: u32, default_shell: &str) -> Running {
    let Some(own) = cmdline(pid) else {
        return Running::Unknown;
    };
    let own_is_shell = is_shell(&own[0], default_shell);
    let group = crate::process::foreground_group(pid).unwrap_or(pid);
    if group == pid {
        // A shell with only options (`-bash`, `zsh -l`) waits for input; one given a script or
        // `-c TEXT` runs it (its children share its group: it does no job control).
        // (`--rcfile FILE` is an option with a value: ctmux starts hooked bash shells so.)
        let mut args = own[1..].iter();
        let mut only_options = true;
        while let Some(a) = args.next() {
            if a == "--rcfile" || a == "--init-file" {
                args.next();
            } else if !a.starts_with('-') || a == "-c" {
                only_options = false;
            }
        }
        let idle = own_is_shell && only_options;
        return if idle { Running::IdleShell } else { Running::Program { argv: own, under_shell: false } };
    }
    match cmdline(group) {
        Some(argv) => Running::Program { argv, under_shell: own_is_shell },
        None => Running::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_shells_and_the_default_shell_are_shells() {
        assert!(is_shell("-bash", ""));
        assert!(is_shell("/usr/bin/zsh", ""));
        assert!(is_shell("/opt/myshell", "/opt/myshell"));
        assert!(!is_shell("python3", "/bin/bash"));
    }

    #[test]
    fn our_own_argv_is_read_whole() {
        let me = cmdline(std::process::id()).unwrap();
        assert_eq!(me[0], std::env::args().next().unwrap());
        assert_eq!(me.len(), std::env::args().count());
    }
}
