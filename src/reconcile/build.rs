//! tmux commands that create, start and tag panes — the only place that knows how a manifest
//! pane becomes tmux state. Targets use exact names (`=session:=window`): right after
//! `new-window`/`split-window` the window's active pane is the new one, so it can be tagged in
//! the same batch, before any output or exit is processed (remain-on-exit is set in time even
//! for `exit 3`).

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use super::spec;
use crate::manifest::model::{Pane, Project};
use crate::tmux::Cmd;
use crate::tmux::command::literal;

/// Sessions and windows that exist (live or created earlier in this run).
#[derive(Debug, Default)]
pub struct Existing {
    /// Session names.
    pub sessions: HashSet<String>,
    /// `(session, window)` names.
    pub windows: HashSet<(String, String)>,
}

/// Exact-match target of a window.
pub fn window_target(session: &str, window: &str) -> String {
    format!("={session}:={window}")
}

/// Seconds since the epoch, for `@ctmux-started`.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Nanoseconds since the epoch, for unique channel and file names.
pub fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// The argv of a pane that waits for its dependencies; it is respawned with the real command.
pub fn placeholder(waiting_for: &str) -> Vec<String> {
    vec![
        "/bin/sh".into(),
        "-c".into(),
        "printf 'ctmux: waiting for %s\\n' \"$1\"; exec sleep 2147483647".into(),
        "ctmux-wait".into(),
        waiting_for.into(),
    ]
}

/// The global option holding the user's `history-limit` while a session is created.
const SAVED_HISTORY_LIMIT: &str = "@ctmux-saved-history-limit";

/// Commands creating `pane` running `argv`, tagged with `hash` (`pending` for placeholders).
pub fn create(project: &Project, pane: &Pane, argv: Vec<String>, hash: &str, existing: &mut Existing) -> Vec<Cmd> {
    let target = window_target(&pane.session, &pane.window);
    let new_session = !existing.sessions.contains(&pane.session);
    let session = project.sessions.get(&pane.session);
    let window = session.and_then(|s| s.windows.get(&pane.window));
    let index = window.and_then(|w| w.index);
    let mut base = if new_session {
        existing.sessions.insert(pane.session.clone());
        existing.windows.insert((pane.session.clone(), pane.window.clone()));
        let (x, y) = project
            .sessions
            .get(&pane.session)
            .and_then(|s| s.size)
            .unwrap_or(crate::manifest::model::DEFAULT_SESSION_SIZE);
        Cmd::new("new-session").args([
            "-d",
            "-s",
            &literal(&pane.session),
            "-n",
            &literal(&pane.window),
            "-x",
            &x.to_string(),
            "-y",
            &y.to_string(),
        ])
    } else if !existing.windows.contains(&(pane.session.clone(), pane.window.clone())) {
        existing.windows.insert((pane.session.clone(), pane.window.clone()));
        // `=session:N` puts it at index N; `=session:` at the next free one (from `base-index`).
        let at = format!("={}:{}", pane.session, index.map(|i| i.to_string()).unwrap_or_default());
        Cmd::new("new-window").args(["-d", "-t", &at, "-n", &literal(&pane.window)])
    } else {
        Cmd::new("split-window").args(["-t", &target])
    };
    let splitting = base.args[0] == "split-window";
    base = base.arg("-P").opt("-F", "#{pane_id}").opt("-c", literal(&pane.cwd.to_string_lossy()));
    for e in spec::env(pane, &project.name) {
        base = base.opt("-e", e);
    }
    // tmux fixes a pane's history-limit when it creates the pane, from its session's option:
    // a new session's first pane takes the global one, so that is set around the new-session
    // (in the same call) and restored after; later panes take the session's.
    let limit = project.history_limit.to_string();
    let session_target = format!("={}:", pane.session);
    // The pane's log sink, in the same call right after the pane is created, so the pipe exists
    // before tmux reads the process's first byte. A placeholder is ctmux's text, not logged.
    let sink = (hash != "pending").then(|| crate::tmux::pipe::pipe(&target, &project.name, &pane.address()));
    // Its process exits once its output is logged (see `sink::run_wrapped`).
    let argv = if sink.is_some() {
        let (runner, carried) = crate::tmux::pipe::wrapped(argv);
        base = base.opt("-e", carried);
        runner
    } else {
        argv
    };
    let mut cmds = if new_session {
        vec![
            Cmd::new("set-option").args(["-gF", SAVED_HISTORY_LIMIT, "#{history-limit}"]),
            Cmd::new("set-option").args(["-g", "history-limit", &limit]),
            base.args(argv),
            Cmd::new("set-option").args(["-gF", "history-limit", &format!("#{{{SAVED_HISTORY_LIMIT}}}")]),
            Cmd::new("set-option").args(["-gu", SAVED_HISTORY_LIMIT]),
            Cmd::new("set-option").args(["-t", &session_target, "history-limit", &limit]),
        ]
    } else {
        vec![Cmd::new("set-option").args(["-t", &session_target, "history-limit", &limit]), base.args(argv)]
    };
    if let Some(sink) = sink {
        let at = cmds.iter().position(|c| {
            c.args.first().is_some_and(|n| n == "new-session" || n == "new-window" || n == "split-window")
        });
        cmds.insert(at.map_or(cmds.len(), |i| i + 1), sink);
    }
    if splitting {
        // Keep room for the next split; the window's real layout is applied at the end.
        cmds.push(Cmd::new("select-layout").opt("-t", target.clone()).arg("tiled"));
    } else {
        cmds.push(Cmd::new("set-option").args(["-w", "-t", &target, "remain-on-exit", "on"]));
    }
    // The session's and the window's own options, right after they are created (before the
    // next window: `base-index` places it).
    if new_session && let Some(s) = session {
        cmds.extend(super::options::session(s, &session_target));
        // The first window was created at the global `base-index`: it moves to its own
        // `index:`, or the session's `base-index`, by renumbering the session with that
        // base-index (the session's own value, or none, is put back).
        let own = s.options.get("base-index");
        if let Some(first) = index.map(|i| i.to_string()).or_else(|| own.cloned()) {
            cmds.push(super::options::set("session", &session_target, "base-index", &first));
            cmds.push(Cmd::new("move-window").args(["-r", "-t", &session_target]));
            if own != Some(&first) {
                cmds.push(match own {
                    Some(v) => super::options::set("session", &session_target, "base-index", v),
                    None => Cmd::new("set-option").args(["-u", "-t", &session_target, "base-index"]),
                });
            }
        }
    }
    if !splitting && let Some(w) = window {
        cmds.extend(super::options::window(w, &target));
    }
    if new_session {
        let manifest = project.file.to_string_lossy().into_owned();
        cmds.push(Cmd::new("set-option").args(["-t", &format!("={}:", pane.session), "@ctmux-manifest"]).arg(manifest));
        if let Some(compose) = &project.compose {
            // Several files, profiles or env files: a daemon that adopts the session composes the same.
            cmds.push(
                Cmd::new("set-option").args(["-t", &format!("={}:", pane.session), "@ctmux-compose"]).arg(compose),
            );
        }
    }
    // Tags target "the window's active pane", which is the new pane only until the next command
    // that creates one: keep them in the same call.
    cmds.extend(tags(project, pane, &target, hash));
    cmds.into_iter().enumerate().map(|(i, c)| if i == 0 { c } else { c.sticky() }).collect()
}

/// `set-option -p` commands that tag the pane at `target` as managed.
pub fn tags(project: &Project, pane: &Pane, target: &str, hash: &str) -> Vec<Cmd> {
    let set = |k: &str, v: String| Cmd::new("set-option").args(["-p", "-t", target, k]).arg(v);
    let mut cmds = vec![
        set("@ctmux-project", project.name.clone()),
        set("@ctmux-id", pane.address()),
        set("@ctmux-hash", hash.to_string()),
        set("@ctmux-spec", spec::digest(pane)),
        set("@ctmux-started", now_secs().to_string()),
    ];
    for (k, v) in &pane.metadata {
        cmds.push(set(&format!("@ctmux-meta-{k}"), v.clone()));
    }
    for (k, v) in &pane.options {
        cmds.push(set(k, v.clone()));
    }
    if let Some(title) = &pane.title {
        cmds.push(Cmd::new("select-pane").args(["-t", target, "-T"]).arg(literal(title)));
    }
    cmds
}

/// Restarts pane `tmux_id` in place as a placeholder that says what it waits for (a pane whose
/// spec changed while its dependencies do not hold).
pub fn respawn_placeholder(project: &Project, pane: &Pane, tmux_id: &str, waiting_for: &str) -> Vec<Cmd> {
    let mut cmd = Cmd::new("respawn-pane").args(["-k", "-t", tmux_id]).opt("-c", literal(&pane.cwd.to_string_lossy()));
    for e in spec::env(pane, &project.name) {
        cmd = cmd.opt("-e", e);
    }
    let set = |k: &str, v: &str| Cmd::new("set-option").args(["-p", "-t", tmux_id, k, v]).sticky();
    // A sink kept from an earlier process would log ctmux's text: closed. Not `stopped` any
    // more (a `start` of a stopped pane whose dependencies do not hold): a stopped placeholder
    // was never started by the daemon.
    let close = Cmd::new("pipe-pane").args(["-t", tmux_id]).sticky();
    vec![
        cmd.args(placeholder(waiting_for)),
        close,
        set("@ctmux-hash", "pending"),
        set("@ctmux-health", ""),
        set("@ctmux-state", ""),
    ]
}

/// Restarts pane `tmux_id` in place with its real command, and re-tags it.
pub fn respawn(project: &Project, pane: &Pane, tmux_id: &str) -> Vec<Cmd> {
    let mut cmd = Cmd::new("respawn-pane").args(["-k", "-t", tmux_id]).opt("-c", literal(&pane.cwd.to_string_lossy()));
    for e in spec::env(pane, &project.name) {
        cmd = cmd.opt("-e", e);
    }
    // A new sink in the same call (the old one gets EOF and finishes first; see `tmux::pipe`).
    let (argv, carried) = crate::tmux::pipe::wrapped(spec::launch(pane));
    let mut cmds =
        vec![cmd.opt("-e", carried).args(argv), crate::tmux::pipe::pipe(tmux_id, &project.name, &pane.address())];
    let set = |k: &str, v: String| Cmd::new("set-option").args(["-p", "-t", tmux_id, k]).arg(v);
    cmds.push(set("@ctmux-hash", spec::hash(pane)));
    cmds.push(set("@ctmux-spec", spec::digest(pane)));
    cmds.push(set("@ctmux-started", now_secs().to_string()));
    cmds.push(set("@ctmux-state", String::new()));
    cmds.push(set("@ctmux-health", String::new()));
    // A start by a verb gives the restart policy its whole budget again (the daemon's own
    // restart sets its count after this, in the same call).
    cmds.push(set("@ctmux-restarts", "0".into()));
    cmds.push(set("@ctmux-gave-up", String::new()));
    cmds.push(Cmd::new("set-option").args(["-w", "-t", tmux_id, "remain-on-exit", "on"]));
    cmds.into_iter().enumerate().map(|(i, c)| if i == 0 { c } else { c.sticky() }).collect()
}
