//! Resource sampling and limits: every [`LIMIT_EVERY`] the daemon measures each pane that has a
//! limit (the manifest's, or `pane limit`'s `@ctmux-limit-*` options, which win) and acts on a
//! crossing; every pane it watches — managed panes, and unmanaged panes of the sessions it
//! watches — gets a `metrics history` sample at least every [`HISTORY_EVERY`] (every tick when it
//! has a limit).
//!
//! A limit's action targets the process it measured: its tree is read with the measurement, and
//! only those processes are signalled, so a process that replaced it meanwhile (the restart that
//! follows, started in the same pane with the same marks) is never touched.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::Daemon;
use crate::manifest::model::{LimitAction, Limits, Stop};

/// How often limits are checked (and limited panes sampled), from the daemon's start.
pub const LIMIT_EVERY: Duration = Duration::from_secs(10);

/// How often a pane without limits is sampled for `metrics history`.
pub const HISTORY_EVERY: Duration = Duration::from_secs(60);

/// One live pane as the sampler reads it from tmux.
struct Seen {
    id: String,
    pid: u32,
    session_id: String,
    runtime: Option<Limits>,
}

/// Parses `list-panes -a -F` [`FORMAT`] output: live panes only.
fn parse(text: &str) -> Vec<Seen> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\x1f').collect();
            if f.len() != 7 || f[2] == "1" {
                return None;
            }
            let runtime = (!f[4].is_empty() || !f[5].is_empty()).then(|| Limits {
                memory: crate::units::parse_size(f[4]).ok(),
                cpu: crate::units::parse_cpu(f[5]).ok(),
                action: match f[6] {
                    "restart" => LimitAction::Restart,
                    "kill" => LimitAction::Kill,
                    _ => LimitAction::Warn,
                },
            });
            Some(Seen { id: f[0].into(), pid: f[1].parse().ok()?, session_id: f[3].into(), runtime })
        })
        .collect()
}

const FORMAT: &str = "#{pane_id}\x1f#{pane_pid}\x1f#{pane_dead}\x1f#{session_id}\x1f#{@ctmux-limit-memory}\x1f#{@ctmux-limit-cpu}\x1f#{@ctmux-limit-action}";

/// Which panes were last sampled when, and which unmanaged ones are over a limit (by pid).
#[derive(Default)]
pub struct Sampling {
    recorded: HashMap<String, Instant>,
    over: HashMap<String, u32>,
}

impl Daemon {
    /// Samples what is due, records it, and acts on limits (see the module doc). `all` records
    /// every watched pane now (an explicit `Sample` request). Returns when to sample next.
    pub(super) async fn sample(&mut self, all: bool) -> Duration {
        let query = crate::tmux::Cmd::query("list-panes").args(["-a", "-F", FORMAT]);
        let Ok(text) = self.tmux.run(&[query]).await else { return LIMIT_EVERY };
        let seen = parse(&text);
        let live: std::collections::HashSet<&str> = seen.iter().map(|s| s.id.as_str()).collect();
        self.sampling.recorded.retain(|id, _| live.contains(id.as_str()));
        self.sampling.over.retain(|id, _| live.contains(id.as_str()));
        let watched_sessions = self.watched_sessions();
        let mut due = Vec::new();
        for s in &seen {
            let managed = self.panes.get(&s.id);
            if managed.is_some_and(|p| p.placeholder || p.watched != Some(s.pid)) {
                continue;
            }
            let limits = s.runtime.clone().or_else(|| managed.and_then(|p| p.spec.as_ref()?.limits.clone()));
            // An unmanaged pane is ours to sample when it is in a session we watch, or has limits.
            if managed.is_none() && limits.is_none() && !watched_sessions.contains(&s.session_id) {
                continue;
            }
            let is_due = all
                || limits.is_some()
                || self
                    .sampling
                    .recorded
                    .get(&s.id)
                    .is_none_or(|t| t.elapsed() + Duration::from_secs(1) >= HISTORY_EVERY);
            if is_due {
                due.push((s, limits));
            }
        }
        if due.is_empty() {
            // Nothing to measure this tick: the process table is not read (with no limits set, it
            // is read once per HISTORY_EVERY, not every tick).
            return LIMIT_EVERY;
        }
        self.sampler.refresh();
        for (s, limits) in due {
            let managed = self.panes.get(&s.id);
            let Some(usage) = self.sampler.usage(s.pid) else { continue };
            // The tree measured, for the action below.
            let tree = self.sampler.tree(s.pid);
            self.sampling.recorded.insert(s.id.clone(), Instant::now());
            let (project, address) = match managed {
                Some(p) => (p.project.clone(), p.address.clone()),
                None => (String::new(), unmanaged_address(&s.session_id, &s.id)),
            };
            if let Some(store) = &self.events.store {
                let _ = store.record_metrics(&self.events.server, &project, &address, &usage);
            }
            let Some(limits) = limits else { continue };
            let over = limits.memory.is_some_and(|m| usage.memory_bytes > m)
                || limits.cpu.is_some_and(|c| usage.cpu_percent > c * 100.0);
            let crossed = match self.panes.get_mut(&s.id) {
                Some(pane) => {
                    let crossed = over && !pane.over_limit;
                    pane.over_limit = over;
                    crossed
                }
                None => {
                    let was = self.sampling.over.get(&s.id) == Some(&s.pid);
                    if over {
                        self.sampling.over.insert(s.id.clone(), s.pid);
                    } else {
                        self.sampling.over.remove(&s.id);
                    }
                    over && !was
                }
            };
            if !crossed {
                continue;
            }
            let data = serde_json::json!({
                "memory_bytes": usage.memory_bytes,
                "memory_limit": limits.memory,
                "cpu_percent": usage.cpu_percent,
                "cpu_limit_percent": limits.cpu.map(|c| c * 100.0),
                "action": limits.action.as_str(),
                "pid": s.pid,
                "tmux_id": s.id,
            });
            self.events.emit("limit.exceeded", &project, &address, data);
            self.act(&s.id, s.pid, tree, limits.action);
        }
        LIMIT_EVERY
    }

    /// Carries out a limit's action on the processes measured (`tree`, rooted at `pid`).
    fn act(&mut self, id: &str, pid: u32, tree: Vec<u32>, action: LimitAction) {
        let kill = Stop { signal: "SIGKILL".into(), timeout: Duration::ZERO, command: None };
        match (action, self.panes.get_mut(id)) {
            (LimitAction::Warn, _) => {}
            (action, Some(pane)) => {
                let stop = if action == LimitAction::Kill {
                    kill
                } else {
                    pane.restart_requested = true;
                    pane.spec.as_ref().map(|p| p.stop.clone()).unwrap_or_default()
                };
                let spec = pane.spec.clone();
                tokio::spawn(async move {
                    crate::reconcile::stop::stop_measured(pid, &tree, &stop, spec.as_ref()).await;
                });
            }
            (LimitAction::Kill, None) => {
                tokio::spawn(async move {
                    crate::reconcile::stop::stop_measured(pid, &tree, &kill, None).await;
                });
            }
            (LimitAction::Restart, None) => {
                // Not ours to rebuild: tmux respawns it with the command it was started with.
                let tmux = self.tmux.clone();
                let respawn = crate::tmux::Cmd::new("respawn-pane").args(["-k", "-t", id]);
                let still = format!("#{{==:#{{pane_pid}},{pid}}}");
                let id = id.to_string();
                tokio::spawn(async move {
                    let check =
                        crate::tmux::Cmd::query("display-message").args(["-p", "-t", id.as_str(), still.as_str()]);
                    // Only if the pane still runs the process we measured.
                    if tmux.run(&[check]).await.is_ok_and(|o| o.trim() == "1") {
                        let _ = tmux.run(&[respawn]).await;
                    }
                });
            }
        }
    }
}

/// The key an unmanaged pane's samples are stored under: `<session id>/<pane id>`.
pub fn unmanaged_address(session_id: &str, pane_id: &str) -> String {
    format!("{session_id}/{pane_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_panes_are_skipped_and_runtime_limits_read() {
        let text = "%1\x1f100\x1f0\x1f$0\x1f\x1f\x1f\n%12\x1f200\x1f0\x1f$1\x1f64MiB\x1f\x1fkill\n%3\x1f300\x1f1\x1f$1\x1f\x1f\x1f\n";
        let seen = parse(text);
        assert_eq!(seen.len(), 2);
        assert!(seen[0].runtime.is_none());
        let limits = seen[1].runtime.clone().unwrap();
        assert_eq!((seen[1].id.as_str(), seen[1].pid, limits.memory), ("%12", 200, Some(64 << 20)));
        assert_eq!(limits.action, LimitAction::Kill);
    }
}
