//! Dynamic shell completion (clap_complete's engine): `ctmux restart <TAB>` offers the targets
//! of the manifest here, `session kill <TAB>` the sessions, `group exec <TAB>` the groups,
//! `--profile <TAB>` the profiles.
//!
//! The shell calls `ctmux` back with `COMPLETE=<shell>` at each TAB ([`clap_complete::CompleteEnv`]
//! in `main`). A completer sees only the word being completed, not the rest of the line, so it
//! reads what any verb would find without flags: the manifest discovered from the current
//! directory (with `CTMUX_PROFILES`), and its tmux server (`CTMUX_TMUX_SOCKET`, the manifest's
//! `socket:`, else tmux's default). Nothing here fails: no manifest or no server means fewer
//! candidates. Nothing is written or started.

use std::collections::BTreeSet;
use std::ffi::OsStr;

use clap_complete::engine::CompletionCandidate;

use crate::manifest::Loaded;

/// The manifest a verb without `-f` would load here, if it loads.
fn manifest() -> Option<Loaded> {
    let cwd = std::env::current_dir().ok()?;
    let env = std::env::vars().collect();
    let files = crate::manifest::discover_all(&[], &cwd).ok()?;
    let options = crate::manifest::compose::Options { files, ..Default::default() };
    crate::manifest::load_with(&options, &env).ok()
}

/// The tmux server a verb without `-L`/`-S` would use.
fn socket(loaded: Option<&Loaded>) -> crate::tmux::Socket {
    let env = std::env::var("CTMUX_TMUX_SOCKET").ok();
    crate::tmux::Socket::choose(None, None, env.as_deref(), loaded.and_then(|l| l.project.socket.as_deref()))
}

/// Session names of the live server (none if it is not running).
fn live_sessions(socket: &crate::tmux::Socket) -> Vec<String> {
    let mut cmd = std::process::Command::new("tmux");
    match socket {
        crate::tmux::Socket::Default => {}
        crate::tmux::Socket::Name(n) => {
            cmd.args(["-L", n]);
        }
        crate::tmux::Socket::Path(p) => {
            cmd.arg("-S").arg(p);
        }
    }
    cmd.args(["list-sessions", "-F", "#{session_name}"]).stderr(std::process::Stdio::null());
    cmd.output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Runtime groups (`group new`) of the server.
fn runtime_groups(socket: &crate::tmux::Socket) -> Vec<String> {
    crate::store::Store::open()
        .and_then(|s| s.groups(&socket.key()))
        .map(|g| g.into_keys().collect())
        .unwrap_or_default()
}

/// The names that start with what was typed, each once, in order.
fn matching(
    current: &OsStr,
    names: impl IntoIterator<Item = (String, Option<&'static str>)>,
) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    let mut seen = BTreeSet::new();
    names
        .into_iter()
        .filter(|(n, _)| n.starts_with(typed.as_ref()) && seen.insert(n.clone()))
        .map(|(n, help)| {
            let c = CompletionCandidate::new(n);
            match help {
                Some(h) => c.help(Some(h.into())),
                None => c,
            }
        })
        .collect()
}

/// Targets: the manifest's sessions, `session/pane` addresses, unique pane names and groups,
/// then the server's other sessions and runtime groups.
pub fn targets(current: &OsStr) -> Vec<CompletionCandidate> {
    let loaded = manifest();
    let socket = socket(loaded.as_ref());
    let mut names: Vec<(String, Option<&'static str>)> = Vec::new();
    if let Some(l) = &loaded {
        let p = &l.project;
        names.extend(p.sessions.keys().map(|s| (s.clone(), Some("session"))));
        names.extend(p.groups.keys().map(|g| (g.clone(), Some("group"))));
        names.extend(p.replicas.keys().map(|r| (r.clone(), Some("every replica"))));
        // A replicated pane's bare name stands for every replica too, when no other pane or
        // replicated pane has it.
        let bare = |r: &str| r.rsplit('/').next().unwrap_or(r).to_string();
        for r in p.replicas.keys() {
            let name = bare(r);
            let unique =
                p.replicas.keys().filter(|x| bare(x) == name).count() == 1 && p.panes().all(|x| x.name != name);
            if unique {
                names.push((name, Some("every replica")));
            }
        }
        for pane in p.panes() {
            names.push((pane.address(), Some("pane")));
        }
        for pane in p.panes() {
            if p.panes().filter(|x| x.name == pane.name).count() == 1 {
                names.push((pane.name.clone(), Some("pane")));
            }
        }
    }
    names.extend(runtime_groups(&socket).into_iter().map(|g| (g, Some("group"))));
    names.extend(live_sessions(&socket).into_iter().map(|s| (s, Some("session"))));
    matching(current, names)
}

/// Sessions: the server's, then the manifest's.
pub fn sessions(current: &OsStr) -> Vec<CompletionCandidate> {
    let loaded = manifest();
    let socket = socket(loaded.as_ref());
    let mut names: Vec<(String, Option<&'static str>)> =
        live_sessions(&socket).into_iter().map(|s| (s, None)).collect();
    if let Some(l) = &loaded {
        names.extend(l.project.sessions.keys().map(|s| (s.clone(), None)));
    }
    matching(current, names)
}

/// Groups: the manifest's and the server's runtime groups.
pub fn groups(current: &OsStr) -> Vec<CompletionCandidate> {
    let loaded = manifest();
    let socket = socket(loaded.as_ref());
    let mut names: Vec<(String, Option<&'static str>)> = Vec::new();
    if let Some(l) = &loaded {
        names.extend(l.project.groups.keys().map(|g| (g.clone(), Some("manifest"))));
    }
    names.extend(runtime_groups(&socket).into_iter().map(|g| (g, Some("runtime"))));
    matching(current, names)
}

/// Profiles every `profiles:` of the manifest declares.
pub fn profiles(current: &OsStr) -> Vec<CompletionCandidate> {
    let names = manifest().map(|l| l.profiles).unwrap_or_default();
    matching(current, names.into_iter().map(|p| (p, None)))
}
