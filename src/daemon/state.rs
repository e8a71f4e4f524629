//! What the daemon knows about one managed pane: its process, which rules fired when, health,
//! and its restart history. (Its output is logged by its sink and read back by [`super::follow`].)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::manifest::model::{Pane, Restart, Rule};
use crate::tmux::LivePane;

/// The daemon's view of one pane.
pub struct PaneState {
    /// Project name.
    pub project: String,
    /// `session/pane`.
    pub address: String,
    /// tmux pane id.
    pub pane_id: String,
    /// Current process.
    pub pid: u32,
    /// The pid whose exit is being watched.
    pub watched: Option<u32>,
    /// This pid exited, and tmux has not reaped it yet (its `pane-died` hook will say).
    pub exit_pending: Option<u32>,
    /// When the current process started (for backoff reset).
    pub started: Instant,
    /// The pane's manifest entry (rules, restart policy).
    pub spec: Option<Pane>,
    /// Restarts in a row (reset after a stable run, and by a verb's start).
    pub restarts: u32,
    /// The last exit found `max_restarts` used up: no restart until a verb starts the pane.
    pub gave_up: bool,
    /// Health of the current process, when the pane has checks.
    pub health: Option<crate::reconcile::health::Tracker>,
    /// Bumped at every new process, so late probe results of an old one are dropped.
    pub generation: u64,
    /// A rule asked for a restart: respawn at the exit, whatever the policy.
    pub restart_requested: bool,
    /// Over a limit at the last sample (so `limit.exceeded` is said once per crossing).
    pub over_limit: bool,
    /// The process is `up`'s placeholder (hash `pending`), not the pane's command: its start
    /// and exit are not events.
    pub placeholder: bool,
    fired: HashMap<usize, Instant>,
}

impl PaneState {
    /// State for a pane seen in tmux.
    pub fn new(lp: &LivePane, spec: Option<Pane>) -> PaneState {
        PaneState {
            project: lp.project.clone(),
            address: lp.address.clone(),
            pane_id: lp.pane_id.clone(),
            pid: lp.pid,
            watched: None,
            exit_pending: None,
            started: Instant::now(),
            spec,
            restarts: lp.restarts,
            gave_up: lp.gave_up,
            health: None,
            generation: 0,
            placeholder: false,
            restart_requested: false,
            over_limit: false,
            fired: HashMap::new(),
        }
    }

    /// Whether the pane has a health check or `ready_when`.
    pub fn checked(&self) -> bool {
        self.spec.as_ref().is_some_and(|p| p.health.is_some() || p.ready_when.is_some())
    }

    /// The output pattern that makes the pane healthy (`ready_when`, or a `log:` check).
    pub fn ready_pattern(&self) -> Option<&regex::Regex> {
        let spec = self.spec.as_ref()?;
        spec.ready_when
            .as_ref()
            .or(match spec.health.as_ref().map(|h| &h.check) {
                Some(crate::manifest::model::Check::Log(p)) => Some(p),
                _ => None,
            })
            .map(|p| &p.regex)
    }

    /// The rules that fire on `line` now (respecting `cooldown` and `once`), with named groups.
    pub fn rules_for(&mut self, line: &str) -> Vec<(Rule, Vec<(String, String)>)> {
        let Some(spec) = &self.spec else { return Vec::new() };
        let mut out = Vec::new();
        for (i, rule) in spec.on.iter().enumerate() {
            let Some(caps) = rule.pattern.regex.captures(line) else { continue };
            let now = Instant::now();
            match self.fired.get(&i) {
                Some(_) if rule.once => continue,
                Some(last) if rule.cooldown.is_some_and(|c| now.duration_since(*last) < c) => continue,
                _ => {}
            }
            self.fired.insert(i, now);
            let groups = rule
                .pattern
                .regex
                .capture_names()
                .flatten()
                .filter_map(|n| caps.name(n).map(|m| (n.to_string(), m.as_str().to_string())))
                .collect();
            out.push((rule.clone(), groups));
        }
        out
    }

    /// Whether (and after how long) to restart after an exit with `status`; `state` is the
    /// pane's `@ctmux-state` (`stopped` after `ctmux stop`: never restart).
    pub fn restart_delay(&mut self, status: Option<i32>, state: &str) -> Option<Duration> {
        let spec = self.spec.as_ref()?;
        let wanted = state != "stopped"
            && match spec.restart {
                Restart::No => false,
                Restart::OnFailure => status != Some(0),
                Restart::Always | Restart::UnlessStopped => true,
            };
        if !wanted {
            return None;
        }
        // A process that stayed up for a while starts the backoff afresh.
        if self.started.elapsed() >= Duration::from_secs(10) {
            self.restarts = 0;
        }
        if spec.max_restarts.is_some_and(|m| self.restarts >= m) {
            self.gave_up = true;
            return None;
        }
        // Once-per-start rules may fire again after the restart.
        self.fired.retain(|i, _| !spec.on.get(*i).is_some_and(|r| r.once));
        Some(Duration::from_secs(1u64 << self.restarts.min(5)).min(Duration::from_secs(30)))
    }
}
