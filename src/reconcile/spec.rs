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

/// The argv a pane is started with: [`argv`], with the shell-integration hook
/// ([`crate::shell_hook`]) added where the pane ends in an interactive shell ctmux can hook
/// (`keep_shell`, no command, or a command that is just that shell). [`argv`] stays what the
/// spec hash covers, so adding the hook never makes `up` recreate a running pane.
pub fn launch(pane: &Pane) -> Vec<String> {
    use crate::shell_hook;
    let plain = argv(pane);
    let shell_kind = shell_hook::kind(&pane.shell);
    match (&pane.command, pane.keep_shell) {
        (None, _) => shell_kind.and_then(|k| shell_hook::argv(k, &pane.shell, true)).unwrap_or(plain),
        (Some(_), true) => match shell_kind.and_then(|k| shell_hook::exec_line(k, false)) {
            // `exec "$0"` ends the script the pane runs: the shell it becomes gets the hook.
            Some(line) => {
                let mut v = plain;
                let body = match &pane.command {
                    Some(Command::Shell(cmd)) => cmd.as_str(),
                    _ => "\"$@\"",
                };
                v[2] = format!("{body}\n{line}");
                v
            }
            None => plain,
        },
        (Some(Command::Shell(cmd)), false) => {
            let word = cmd.trim();
            match shell_hook::kind(word).filter(|_| !word.contains(char::is_whitespace)) {
                Some(k) => shell_hook::argv(k, word, false).unwrap_or(plain),
                None => plain,
            }
        }
        (Some(Command::Argv(words)), false) if words.len() == 1 => match shell_hook::kind(&words[0]) {
            Some(k) => shell_hook::argv(k, &words[0], false).unwrap_or(plain),
            None => plain,
        },
        _ => plain,
    }
}

/// `-e` values: the manifest's environment plus ctmux's own identification variables.
pub fn env(pane: &Pane, project: &str) -> Vec<String> {
    let mut out: Vec<String> = pane.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    out.push(format!("CTMUX_PROJECT={project}"));
    out.push(format!("CTMUX_PANE={}", pane.address()));
    out
}

/// Per-field digests of the process-shaping spec, kept as `@ctmux-spec` beside `@ctmux-hash` so
/// `plan -v` can say which fields a recreate changes: `command=H cwd=H env:KEY=H…`. Env values
/// are only hashed (and the pane's environment is readable by the same user anyway).
pub fn digest(pane: &Pane) -> String {
    let mut out = format!("command={} cwd={}", fnv(argv(pane).iter().map(String::as_str)), {
        let cwd = pane.cwd.to_string_lossy();
        fnv([cwd.as_ref()])
    });
    for (k, v) in &pane.env {
        out.push_str(&format!(" env:{k}={}", fnv([v.as_str()])));
    }
    out
}

/// What differs between a pane's recorded [`digest`] and `pane`: `command`, `cwd`, `env KEY`
/// (changed), `env +KEY` (added), `env -KEY` (removed). Empty when `recorded` is empty (a pane
/// started before panes recorded it) or equal.
pub fn changed_fields(recorded: &str, pane: &Pane) -> Vec<String> {
    /// (name, hash) pairs in written order.
    type Pairs<'a> = Vec<(&'a str, &'a str)>;
    /// The fields and the env keys, each with its hash.
    fn parse(d: &str) -> (Pairs<'_>, Pairs<'_>) {
        let (mut fields, mut env) = (Vec::new(), Vec::new());
        for part in d.split(' ').filter(|p| !p.is_empty()) {
            let Some((k, h)) = part.rsplit_once('=') else { continue };
            match k.strip_prefix("env:") {
                Some(name) => env.push((name, h)),
                None => fields.push((k, h)),
            }
        }
        (fields, env)
    }
    if recorded.trim().is_empty() {
        return Vec::new();
    }
    let now = digest(pane);
    let ((old_fields, old_env), (new_fields, new_env)) = (parse(recorded), parse(&now));
    let old_env: std::collections::HashMap<&str, &str> = old_env.into_iter().collect();
    let new_keys: std::collections::HashSet<&str> = new_env.iter().map(|(k, _)| *k).collect();
    let mut out: Vec<String> =
        new_fields.iter().filter(|f| !old_fields.contains(f)).map(|(k, _)| (*k).to_string()).collect();
    for (k, h) in &new_env {
        match old_env.get(k) {
            None => out.push(format!("env +{k}")),
            Some(old) if old != h => out.push(format!("env {k}")),
            Some(_) => {}
        }
    }
    let mut removed: Vec<&&str> = old_env.keys().filter(|k| !new_keys.contains(**k)).collect();
    removed.sort();
    out.extend(removed.into_iter().map(|k| format!("env -{k}")));
    out
}

/// FNV-1a over `parts`, each terminated by a NUL, as 16 hex digits.
fn fnv<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
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
