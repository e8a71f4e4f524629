//! tmux options of a project (`options:` at every level): what the manifest wants, what the
//! server has, and the `set-option` commands that make them agree.
//!
//! `up` sets a level's options where it creates that level (in the same batch as the session,
//! window or pane); for what exists already, [`drift`] reads each wanted option back in one tmux
//! call and lists those whose value differs, which the plan shows and `up` sets again. A second
//! `up` with nothing drifted sends no `set-option`.

use indexmap::IndexSet;
use serde::Serialize;

use crate::manifest::model::{Pane, Project, Session, Window};
use crate::tmux::options::{self as table, SERVER, SESSION};
use crate::tmux::{Cmd, Live, Tmux, TmuxError};

/// Separates the answers of the option reads in one call.
const MARK: &str = "\x1fctmux-option\x1f";

/// One option whose live value is not the manifest's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OptionChange {
    /// `global`, `session`, `window` or `pane`.
    pub level: &'static str,
    /// What it is set on: empty (global), `session`, `session:window` or `session/pane`.
    pub target: String,
    /// The option's name.
    pub option: String,
    /// The manifest's value.
    pub value: String,
    /// The live value (`None`: not set at this level, or not readable: no server yet).
    pub was: Option<String>,
    /// The tmux target (`=s:`, `=s:=w`, `%3`); empty for a global option.
    #[serde(skip)]
    pub tmux_target: String,
}

impl OptionChange {
    /// The `set-option` command that makes it so.
    pub fn command(&self) -> Cmd {
        set(self.level, &self.tmux_target, &self.option, &self.value)
    }
}

/// `set-option` flags of `name` at `level` (global options go to the table the name lives in).
fn flags(level: &str, name: &str) -> &'static str {
    let scope = table::lookup(name).map_or(SESSION, |d| d.scope);
    match level {
        "global" if scope & SERVER != 0 => "-s",
        "global" if scope & SESSION != 0 => "-g",
        "global" => "-gw",
        "session" => "",
        "window" => "-w",
        _ => "-p",
    }
}

/// `set-option` for `name` at `level` on `target`.
pub fn set(level: &str, target: &str, name: &str, value: &str) -> Cmd {
    let mut cmd = Cmd::new("set-option");
    let f = flags(level, name);
    if !f.is_empty() {
        cmd = cmd.arg(f);
    }
    if !target.is_empty() {
        cmd = cmd.opt("-t", target);
    }
    cmd.arg(name).arg(value)
}

/// The project's global options, to run before anything of it is created.
pub fn global(project: &Project) -> Vec<Cmd> {
    project.options.iter().map(|(k, v)| set("global", "", k, v)).collect()
}

/// A new session's own options (`target` is `=session:`).
pub fn session(session: &Session, target: &str) -> Vec<Cmd> {
    session.options.iter().map(|(k, v)| set("session", target, k, v)).collect()
}

/// A new window's options (`target` is `=session:=window`).
pub fn window(window: &Window, target: &str) -> Vec<Cmd> {
    window.options.iter().map(|(k, v)| set("window", target, k, v)).collect()
}

/// A new pane's options (`target` names the pane).
pub fn pane(pane: &Pane, target: &str) -> Vec<Cmd> {
    pane.options.iter().map(|(k, v)| set("pane", target, k, v)).collect()
}

/// Every option the manifest wants on something that exists live, with its level and target;
/// global options always (the server is there, or will be).
fn wanted(project: &Project, live: &Live, targets: Option<&IndexSet<String>>) -> Vec<OptionChange> {
    let targeted = |p: &Pane| targets.is_none_or(|t| t.contains(&p.address()));
    let change = |level, target: String, tmux_target: String, (k, v): (&String, &String)| OptionChange {
        level,
        target,
        option: k.clone(),
        value: v.clone(),
        was: None,
        tmux_target,
    };
    let mut out: Vec<OptionChange> =
        project.options.iter().map(|kv| change("global", String::new(), String::new(), kv)).collect();
    let managed = live.managed(&project.name);
    for session in project.sessions.values() {
        // Only what this run acts on (a `restore` leaves the sessions that exist alone).
        let acted = |w: &Window| w.panes.values().any(targeted);
        if !live.panes.iter().any(|p| p.session == session.name) || !session.windows.values().any(acted) {
            continue;
        }
        let st = format!("={}:", session.name);
        out.extend(session.options.iter().map(|kv| change("session", session.name.clone(), st.clone(), kv)));
        for window in session.windows.values() {
            if !live.panes.iter().any(|p| p.session == session.name && p.window_name == window.name) || !acted(window) {
                continue;
            }
            let wt = format!("={}:={}", session.name, window.name);
            let shown = format!("{}:{}", session.name, window.name);
            out.extend(window.options.iter().map(|kv| change("window", shown.clone(), wt.clone(), kv)));
            for p in window.panes.values().filter(|p| targeted(p)) {
                if let Some(lp) = managed.get(&p.address()) {
                    out.extend(p.options.iter().map(|kv| change("pane", p.address(), lp.pane_id.clone(), kv)));
                }
            }
        }
    }
    out
}

/// The options whose live value is not the manifest's, read in one tmux call; with `targets`
/// (pane addresses), only on the sessions, windows and panes holding them (and global ones).
/// Without a server (or a session to read through) every global option is listed: the build
/// sets them first.
pub async fn drift(
    tmux: &Tmux,
    project: &Project,
    live: &Live,
    targets: Option<&IndexSet<String>>,
) -> Result<Vec<OptionChange>, TmuxError> {
    let mut wanted = wanted(project, live, targets);
    if wanted.is_empty() {
        return Ok(wanted);
    }
    if live.panes.is_empty() {
        return Ok(wanted);
    }
    let mut cmds = Vec::new();
    for w in &wanted {
        let mut cmd = Cmd::query("show-options").arg("-qv");
        let f = flags(w.level, &w.option);
        if !f.is_empty() {
            cmd = cmd.arg(f);
        }
        if !w.tmux_target.is_empty() {
            cmd = cmd.opt("-t", w.tmux_target.clone());
        }
        cmds.push(cmd.arg(w.option.clone()));
        cmds.push(Cmd::query("display-message").arg("-p").arg(MARK));
    }
    let out = tmux.run(&cmds).await?;
    let mark = format!("{MARK}\n");
    let mut answers = out.split(&mark);
    for w in &mut wanted {
        let answer = answers.next().unwrap_or_default();
        // Unset prints nothing; a value prints one line.
        w.was = (!answer.is_empty()).then(|| answer.strip_suffix('\n').unwrap_or(answer).to_string());
    }
    wanted.retain(|w| w.was.as_deref() != Some(w.value.as_str()));
    Ok(wanted)
}
