//! Panes ctmux did not create, and output subscriptions.
//!
//! The daemon also watches the sessions a subscription targets (every session, for one without
//! a target), so a subscription sees any pane: the unmanaged panes of the watched sessions get
//! `pane.started` and `pane.exited` events (project empty, address `session/%ID`), and a
//! `pane.output` subscription (`--match RE`) gets one `pane.output` event per complete output
//! line (ANSI stripped) of a pane it targets that matches, managed or not. Lines are matched
//! only while such a subscription exists: no subscription, no per-line work.

use std::collections::{HashMap, HashSet};

use super::Daemon;
use crate::store::Subscription;

/// What the daemon knows of unmanaged panes.
#[derive(Default)]
pub struct Unmanaged {
    /// Unmanaged panes of watched sessions: pane id → (pid, session name, address).
    panes: HashMap<String, Tracked>,
    /// Partial output lines, by pane id.
    partial: HashMap<String, Vec<u8>>,
    /// Compiled `--match` patterns.
    patterns: HashMap<String, Option<regex::Regex>>,
    /// Sessions whose panes are tracked: panes there when we started watching are not new.
    sessions: HashSet<String>,
}

struct Tracked {
    pid: u32,
    address: String,
    dead: bool,
}

/// The sessions a subscription's target names, by name: `None` means every session.
fn wanted_session(sub: &Subscription, live: &crate::tmux::Live) -> Option<Vec<String>> {
    let target = sub.target.as_deref()?;
    let session = target.split_once('/').map_or(target, |(s, _)| s);
    let by_pane = live.panes.iter().filter(|p| p.pane_id == target || p.pane_id == session).map(|p| p.session.clone());
    let by_name = live.panes.iter().filter(|p| p.session == session).map(|p| p.session.clone());
    Some(by_pane.chain(by_name).collect())
}

/// Whether subscriptions of this kind need panes watched.
fn watches(sub: &Subscription) -> bool {
    sub.event == "*"
        || ["pane.output", "pane.started", "pane.exited", "pane"]
            .iter()
            .any(|k| crate::store::kind_matches(&sub.event, k) || crate::store::kind_matches(k, &sub.event))
}

impl Daemon {
    /// Attaches to the sessions subscriptions target.
    pub(super) fn watch_subscribed(&mut self, live: &crate::tmux::Live) {
        let subs: Vec<Subscription> = self.events.subscriptions().iter().filter(|s| watches(s)).cloned().collect();
        let mut names: HashSet<String> = HashSet::new();
        for sub in &subs {
            match wanted_session(sub, live) {
                Some(sessions) => names.extend(sessions),
                None => names.extend(live.panes.iter().map(|p| p.session.clone())),
            }
        }
        let ids: HashSet<String> =
            live.panes.iter().filter(|p| names.contains(&p.session)).map(|p| p.session_id.clone()).collect();
        for id in ids {
            self.watch(&id);
        }
    }

    /// The sessions the daemon watches: those with managed panes, and those a subscription
    /// attached a control client to.
    pub(super) fn watched_sessions(&self) -> HashSet<String> {
        self.sessions.union(&self.managed_sessions).cloned().collect()
    }

    /// Emits `pane.started` / `pane.exited` for unmanaged panes of watched sessions.
    pub(super) fn track_unmanaged(&mut self, live: &crate::tmux::Live) {
        let mut seen = HashSet::new();
        let watched = self.watched_sessions();
        let fresh: HashSet<String> = watched.difference(&self.unmanaged.sessions).cloned().collect();
        self.unmanaged.sessions = watched.clone();
        for lp in live.panes.iter().filter(|p| p.address.is_empty() || p.project.is_empty()) {
            if !watched.contains(&lp.session_id) {
                continue;
            }
            seen.insert(lp.pane_id.clone());
            let address = format!("{}/{}", lp.session, lp.pane_id);
            let known = self.unmanaged.panes.get(&lp.pane_id).is_some_and(|t| t.pid == lp.pid);
            if !known {
                self.end_unmanaged(&lp.pane_id, None);
                let data = serde_json::json!({ "pid": lp.pid, "tmux_id": lp.pane_id });
                if !lp.dead {
                    if !fresh.contains(&lp.session_id) {
                        self.events.emit("pane.started", "", &address, data);
                    }
                    super::watch_exit(lp.pane_id.clone(), lp.pid, self.tx.clone());
                }
                let tracked = Tracked { pid: lp.pid, address, dead: lp.dead };
                self.unmanaged.panes.insert(lp.pane_id.clone(), tracked);
            } else if lp.dead {
                self.end_unmanaged(&lp.pane_id, Some((lp.exit_status, lp.exit_signal)));
            }
        }
        let gone: Vec<String> = self.unmanaged.panes.keys().filter(|id| !seen.contains(*id)).cloned().collect();
        for id in gone {
            self.end_unmanaged(&id, None);
            self.unmanaged.panes.remove(&id);
            self.unmanaged.partial.remove(&id);
        }
    }

    /// An unmanaged pane's process is gone (with its status when tmux kept the pane).
    fn end_unmanaged(&mut self, id: &str, status: Option<(Option<i32>, Option<i32>)>) {
        let Some(t) = self.unmanaged.panes.get_mut(id) else { return };
        if t.dead {
            return;
        }
        t.dead = true;
        let (status, signal) = status.unwrap_or_default();
        let data = serde_json::json!({ "status": status, "signal": signal, "pid": t.pid, "tmux_id": id });
        let address = t.address.clone();
        self.events.emit("pane.exited", "", &address, data);
    }

    /// Output of a pane we do not manage: complete lines go to [`Daemon::output_events`].
    pub(super) fn unmanaged_output(&mut self, id: &str, bytes: &[u8]) {
        let Some(address) = self.unmanaged.panes.get(id).map(|t| t.address.clone()) else { return };
        if !self.events.subscriptions().iter().any(|s| s.event == "pane.output") {
            self.unmanaged.partial.remove(id);
            return;
        }
        let buf = self.unmanaged.partial.entry(id.to_string()).or_default();
        buf.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(at) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=at).collect();
            let text = String::from_utf8_lossy(&line);
            lines.push(crate::ansi::strip(text.trim_end_matches(['\r', '\n'])));
        }
        // A line that never ends is not held without bound.
        if buf.len() > 64 * 1024 {
            buf.clear();
        }
        self.output_events(id, "", &address, &lines);
    }

    /// One `pane.output` event per line a `pane.output` subscription targeting the pane matches.
    pub(super) fn output_events(&mut self, id: &str, project: &str, address: &str, lines: &[String]) {
        let subs: Vec<Subscription> =
            self.events.subscriptions().iter().filter(|s| s.event == "pane.output").cloned().collect();
        if subs.is_empty() {
            return;
        }
        let (session, pane) = address.split_once('/').unwrap_or((address, ""));
        for line in lines {
            let wanted = subs.iter().any(|sub| {
                let target = sub.target.as_deref().is_none_or(|t| {
                    t == id
                        || match t.split_once('/') {
                            Some((s, p)) => s == session && p == pane,
                            None => t == session || t == pane,
                        }
                });
                let re = sub.pattern.as_deref().map(|p| {
                    self.unmanaged
                        .patterns
                        .entry(p.to_string())
                        .or_insert_with(|| crate::manifest::reader::bounded_regex(p).ok())
                        .clone()
                });
                target && re.is_none_or(|re| re.is_some_and(|re| re.is_match(line)))
            });
            if wanted {
                let data = serde_json::json!({ "text": line, "tmux_id": id });
                self.events.emit("pane.output", project, address, data);
            }
        }
    }
}
