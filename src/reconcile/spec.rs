//! What a pane's process is: the argv tmux runs, its environment, and the hash that detects drift.
//!
//! The hash covers only what shapes the running process (argv, cwd, env). Changing a health
//! check, a rule or a restart policy does not restart a pane; those are read from the manifest
//! by whoever watches the pane.

use crate::manifest::model::{Command, Pane};

/// The argv tmux starts the pane with (more than one word, so tmux execs it without a shell).
pub fn argv(pane: &Pane) -> Vec<String> {
    let shell = pane.shell.clone();
    match (&pane.command, pane.keep_shell) {
        (None, _) => vec![shell, "-l".into()],
        (Some(Command::Shell(cmd)), false) => vec![shell, "-c".into(), cmd.clone()],
        (Some(Command::Shell(cmd)), true) => vec![shell.clone(), "-c".into(), format!("{cmd}\nexec \"$0\""), shell],
        (Some(Command::Argv(words)), false) if words.len() > 1 => words.clone(),
        // One word: tmux would run it through a shell, so exec it explicitly.
        (Some(Command::Argv(words)), false) => {
            vec![shell, "-c".into(), "exec \"$0\"".into(), words[0].clone()]
        }
        (Some(Command::Argv(words)), true) => {
            let mut v = vec![shell.clone(), "-c".into(), "\"$@\"\nexec \"$0\"".into(), shell];
            v.extend(words.iter().cloned());
            v
        }
    }
}

/// `-e` values: the manifest's environment plus ctmux's own identification variables.
pub fn env(pane: &Pane, project: &str) -> Vec<String> {
    let mut out: Vec<String> = pane.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    out.push(format!("CTMUX_PROJECT={project}"));
    out.push(format!("CTMUX_PANE={}", pane.address()));
    out
}

/// Stable 64-bit FNV-1a of the process-shaping spec, as 16 hex digits (stable across builds,
/// unlike `std`'s hasher).
pub fn hash(pane: &Pane) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |s: &str| {
        for b in s.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for a in argv(pane) {
        feed(&a);
    }
    feed("\u{1}cwd");
    feed(&pane.cwd.to_string_lossy());
    feed("\u{1}env");
    for (k, v) in &pane.env {
        feed(k);
        feed(v);
    }
    format!("{h:016x}")
}
