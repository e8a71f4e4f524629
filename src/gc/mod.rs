//! Garbage collection: what may be removed, decided by one pure function ([`plan`]) over a
//! picture of one tmux server ([`World`]) and the manifests ([`Project`]) that own its objects.
//!
//! The hard rules live here, so the property test covers them, and [`apply`] enforces them a
//! second time right before acting (it re-reads tmux and lets tmux itself check the facts the
//! action relies on): nothing of another tmux server, nothing in a session a person is attached
//! to, nothing not tagged by ctmux, no pane whose process still runs, nothing `keep: true`.

pub mod apply;
pub mod observe;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::manifest::model::{Orphans, Pane, Project, Restart};

/// One tmux server as GC sees it.
#[derive(Debug, Clone, Default)]
pub struct World {
    /// The server this picture was read from (its socket key); only its objects are acted on.
    pub server: String,
    /// Its sessions.
    pub sessions: Vec<Session>,
    /// Pane log files of the projects in question.
    pub logs: Vec<LogFile>,
}

/// A tmux session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// The server it lives on.
    pub server: String,
    /// Session name.
    pub name: String,
    /// Session id (`$3`).
    pub id: String,
    /// A client that is not a control-mode client (a person) is attached.
    pub attached: bool,
    /// Clients attached of any kind (`#{session_attached}`), for the guard in tmux.
    pub clients: u32,
    /// Last output in any of its windows, Unix seconds.
    pub activity: u64,
    /// Its panes.
    pub panes: Vec<LivePane>,
}

/// A pane as GC sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LivePane {
    /// tmux pane id (`%12`).
    pub id: String,
    /// `@ctmux-project`; empty when not created by ctmux.
    pub project: String,
    /// `@ctmux-id`, its address.
    pub address: String,
    /// Its process id.
    pub pid: u32,
    /// Its process exited (tmux keeps the pane).
    pub dead: bool,
    /// When it exited, Unix seconds (`#{pane_dead_time}`).
    pub dead_since: Option<u64>,
    /// Exit status, when it exited normally.
    pub exit_status: Option<i32>,
    /// `@ctmux-state` (`stopped` after `ctmux stop`, `waiting` while pending).
    pub state: String,
    /// Restarts so far (`@ctmux-restarts`).
    pub restarts: u32,
    /// Alive, but only an interactive shell with nothing running in it (a pane with no command).
    pub idle_shell: bool,
    /// The manifest it was built from (`@ctmux-manifest`) no longer exists.
    pub manifest_missing: bool,
}

/// A pane log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// Project whose log directory holds it.
    pub project: String,
    /// Path.
    pub path: PathBuf,
    /// Last written, Unix seconds.
    pub modified: u64,
    /// Size in bytes.
    pub size: u64,
    /// The current log of a pane that exists: the daemon writes to it, so it is never removed.
    pub current: bool,
}

/// What GC would do with one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Kill a dead pane.
    RemovePane,
    /// Kill a whole session.
    RemoveSession,
    /// Delete a log file.
    RemoveLog,
    /// Only tell (an orphan GC may not or should not remove).
    Report,
}

/// One decision of the plan, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// What is done (`action` in JSON).
    #[serde(rename = "action")]
    pub kind: Kind,
    /// Project the object belongs to.
    pub project: String,
    /// Session name (empty for logs).
    pub session: String,
    /// Session id, the tmux target of `remove_session`.
    pub session_id: String,
    /// Pane id, the tmux target of `remove_pane`.
    pub pane: String,
    /// Pane address, when it has one.
    pub address: String,
    /// Log file, for `remove_log`.
    pub path: Option<PathBuf>,
    /// Why.
    pub reason: String,
    /// When it is (or was) due, Unix seconds.
    pub due: u64,
    /// What must still hold when acting: the pane's pid / the session's panes and pids.
    #[serde(skip)]
    pub guard: Vec<(String, u32)>,
}

impl Action {
    fn new(kind: Kind, project: &str, reason: String, due: u64) -> Action {
        Action {
            kind,
            project: project.into(),
            session: String::new(),
            session_id: String::new(),
            pane: String::new(),
            address: String::new(),
            path: None,
            reason,
            due,
            guard: Vec::new(),
        }
    }

    fn on_pane(mut self, s: &Session, p: &LivePane) -> Action {
        self.session = s.name.clone();
        self.session_id = s.id.clone();
        self.pane = p.id.clone();
        self.address = p.address.clone();
        self.guard = vec![(p.id.clone(), p.pid)];
        self
    }
}

/// The `data` of the `gc.collected` event that records a removal.
pub fn event_data(a: &Action) -> serde_json::Value {
    serde_json::json!({
        "action": a.kind,
        "session": a.session,
        "tmux_id": if a.kind == Kind::RemoveSession { &a.session_id } else { &a.pane },
        "path": a.path,
        "reason": a.reason,
    })
}

/// The jobs of `project` on `server` (a socket key) that GC removed after they completed and
/// that have not started since: the next `up` runs them again, and `plan` says so.
pub fn removed_jobs(server: &str, project: &Project) -> std::collections::HashSet<String> {
    let mut out = std::collections::HashSet::new();
    let jobs: Vec<String> = project.panes().map(|p| p.address()).filter(|a| project.is_job(a)).collect();
    let has_ttl = project.gc.exited.is_some()
        || project.gc.idle.is_some()
        || project.sessions.values().any(|s| s.gc.exited.is_some() || s.gc.idle.is_some())
        || project.panes().any(|p| p.gc.exited.is_some());
    if jobs.is_empty() || !has_ttl {
        return out;
    }
    let Ok(store) = crate::store::Store::open() else { return out };
    let Ok(events) = store.kinds_of(server, &project.name, &["gc.collected", "pane.started"]) else { return out };
    for (kind, session, pane, data) in events {
        let address = format!("{session}/{pane}");
        if kind == "pane.started" {
            out.remove(&address);
        } else if !pane.is_empty() {
            if jobs.contains(&address) {
                out.insert(address);
            }
        } else if data["action"] == "remove_session" {
            let gone = data["session"].as_str().unwrap_or_default();
            out.extend(jobs.iter().filter(|j| j.split_once('/').is_some_and(|(s, _)| s == gone)).cloned());
        }
    }
    out
}

/// The actions due at `now` (Unix seconds): [`outlook`] without what is due later.
pub fn plan(now: u64, world: &World, manifests: &[Project]) -> Vec<Action> {
    outlook(now, world, manifests).into_iter().filter(|a| a.due <= now).collect()
}

/// Everything GC would do with this world, now or later (`due` says when; reports are due at
/// once). Removals only ever name objects that pass every hard rule.
pub fn outlook(now: u64, world: &World, manifests: &[Project]) -> Vec<Action> {
    let mut out = Vec::new();
    for s in world.sessions.iter().filter(|s| s.server == world.server) {
        // Hard rule: a session someone is attached to is left alone, all of it.
        if s.attached {
            continue;
        }
        if let Some(a) = idle_session(now, world, s, manifests) {
            let due_now = a.due <= now;
            out.push(a);
            if due_now {
                continue;
            }
        }
        for p in &s.panes {
            if awaited(world, manifests, p) {
                continue;
            }
            if let Some(a) = pane_action(now, s, p, manifests) {
                out.push(a);
            }
        }
    }
    out.extend(logs(now, world, manifests));
    out
}

fn manifest<'m>(manifests: &'m [Project], name: &str) -> Option<&'m Project> {
    manifests.iter().find(|m| m.name == name)
}

/// Whether tmux or the daemon will run this dead pane again (a restart policy with restarts
/// left, or a user's `stop` that `start` undoes): such a pane is not garbage.
fn comes_back(spec: &Pane, p: &LivePane) -> bool {
    if p.state == "stopped" || p.state == "waiting" {
        return true;
    }
    let restarts_left = spec.max_restarts.is_none_or(|max| p.restarts < max);
    match spec.restart {
        Restart::No => false,
        Restart::OnFailure => restarts_left && p.exit_status != Some(0),
        Restart::Always | Restart::UnlessStopped => restarts_left,
    }
}

/// Whether a pane still waiting to start depends on `p` (say, on its completion): removing `p`
/// would leave that pane waiting for good.
fn awaited(world: &World, manifests: &[Project], p: &LivePane) -> bool {
    let Some(m) = manifest(manifests, &p.project) else { return false };
    world.sessions.iter().filter(|s| s.server == world.server).flat_map(|s| &s.panes).any(|w| {
        w.project == p.project
            && w.state == "waiting"
            && m.pane(&w.address).is_some_and(|spec| spec.depends_on.iter().any(|d| d.target == p.address))
    })
}

fn kept(m: &Project, s: &Session, p: &LivePane) -> bool {
    m.sessions.get(&s.name).is_some_and(|ms| ms.gc.keep) || m.pane(&p.address).is_some_and(|mp| mp.gc.keep)
}

fn pane_action(now: u64, s: &Session, p: &LivePane, manifests: &[Project]) -> Option<Action> {
    // Hard rule: only what ctmux tagged.
    if p.project.is_empty() || p.address.is_empty() {
        return None;
    }
    let Some(m) = manifest(manifests, &p.project) else {
        return p.manifest_missing.then(|| {
            Action::new(Kind::Report, &p.project, "orphan: its manifest file is gone".into(), now).on_pane(s, p)
        });
    };
    if kept(m, s, p) {
        return None;
    }
    let Some(spec) = m.pane(&p.address).filter(|_| p.address.split_once('/').is_some_and(|(ses, _)| ses == s.name))
    else {
        // Tagged for this project, not declared by its manifest (or moved to another session).
        let removable = m.gc.orphans == Orphans::Remove && p.dead && p.dead_since.is_some();
        let (kind, reason) = if removable {
            (Kind::RemovePane, "orphan: not in the manifest, exited".to_string())
        } else if p.dead {
            (Kind::Report, "orphan: not in the manifest (gc.orphans: report)".to_string())
        } else {
            (Kind::Report, "orphan: not in the manifest, still running".to_string())
        };
        return Some(Action::new(kind, &p.project, reason, now).on_pane(s, p));
    };
    // Hard rule: never a pane whose process runs (or will run again).
    if !p.dead || comes_back(spec, p) {
        return None;
    }
    let dead_since = p.dead_since?;
    let session_ttl = m.sessions.get(&s.name).and_then(|ms| ms.gc.exited);
    let ttl = spec.gc.exited.or(session_ttl).or(m.gc.exited)?;
    let due = dead_since.saturating_add(ttl.as_secs());
    let status = match p.exit_status {
        Some(n) => format!("status {n}"),
        None => "a signal".into(),
    };
    let reason = format!("exited ({status}) {} ago, gc.exited is {}", ago(now, dead_since), fmt(ttl));
    Some(Action::new(Kind::RemovePane, &p.project, reason, due).on_pane(s, p))
}

/// A session whose every pane is ctmux's, of a loaded manifest that declares the session, and
/// is dead (for good) or an idle shell, with a TTL for idleness.
fn idle_session(now: u64, world: &World, s: &Session, manifests: &[Project]) -> Option<Action> {
    let project = &s.panes.first()?.project;
    let m = manifest(manifests, project)?;
    let ms = m.sessions.get(&s.name)?;
    if ms.gc.keep {
        return None;
    }
    let ttl = ms.gc.idle.or(m.gc.idle)?;
    for p in &s.panes {
        if p.project != *project || p.address.is_empty() || kept(m, s, p) {
            return None;
        }
        if awaited(world, manifests, p) {
            return None;
        }
        let spec = m.pane(&p.address).filter(|_| p.address.split_once('/').is_some_and(|(ses, _)| ses == s.name))?;
        let quiet = if p.dead { !comes_back(spec, p) } else { p.idle_shell && p.state != "waiting" };
        if !quiet {
            return None;
        }
    }
    let due = s.activity.saturating_add(ttl.as_secs());
    let reason = format!("idle: no output for {}, nothing running, gc.idle is {}", ago(now, s.activity), fmt(ttl));
    let mut a = Action::new(Kind::RemoveSession, project, reason, due);
    a.session = s.name.clone();
    a.session_id = s.id.clone();
    a.guard = s.panes.iter().map(|p| (p.id.clone(), p.pid)).collect();
    Some(a)
}

fn logs(now: u64, world: &World, manifests: &[Project]) -> Vec<Action> {
    let mut out = Vec::new();
    for m in manifests {
        let mut files: Vec<&LogFile> = world.logs.iter().filter(|l| l.project == m.name).collect();
        files.sort_by_key(|l| (l.modified, l.path.clone()));
        let mut total: u64 = files.iter().map(|l| l.size).sum();
        let mut removed = std::collections::HashSet::new();
        if let Some(age) = m.gc.logs_max_age {
            for l in files.iter().filter(|l| !l.current) {
                let due = l.modified.saturating_add(age.as_secs());
                let reason = format!("log not written for {}, gc.logs.max_age is {}", ago(now, l.modified), fmt(age));
                if due <= now {
                    removed.insert(l.path.clone());
                    total -= l.size;
                }
                out.push(log_action(m, l, reason, due));
            }
        }
        if let Some(max) = m.gc.logs_max_size {
            for l in files.iter().filter(|l| !l.current && !removed.contains(&l.path)) {
                if total <= max {
                    break;
                }
                total -= l.size;
                let reason = format!("oldest log while the project's logs exceed gc.logs.max_size ({max} bytes)");
                out.push(log_action(m, l, reason, now));
            }
        }
    }
    out
}

fn log_action(m: &Project, l: &LogFile, reason: String, due: u64) -> Action {
    let mut a = Action::new(Kind::RemoveLog, &m.name, reason, due);
    a.path = Some(l.path.clone());
    a
}

fn ago(now: u64, then: u64) -> String {
    fmt(Duration::from_secs(now.saturating_sub(then)))
}

fn fmt(d: Duration) -> String {
    crate::units::format_duration(d)
}

#[cfg(test)]
mod tests;
