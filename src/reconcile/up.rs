//! `up`: apply a [`Plan`] in dependency order, then (with `--wait`) wait for health.
//!
//! The whole layout is built in one tmux batch, in manifest order, so windows and panes sit
//! where the manifest puts them. A pane whose dependencies are not yet satisfied starts as a
//! placeholder that says what it waits for; it is respawned in place (`respawn-pane -k`) with its
//! real command as soon as they are. Each look at the server is one tmux call; probes run
//! concurrently, so independent branches start as soon as their own dependencies allow.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::build::{self, Existing};
use super::health::{self, State, Tracker};
use super::observe::{self, Observed};
use super::pending::Waiting;
use super::plan::{Change, Plan};
use super::spec;
use crate::error::Error;
use crate::graph::DepGraph;
use crate::manifest::model::{Check, Condition, Pane, Project, Restart};
use crate::tmux::{Cmd, Live, Tmux};

/// How long between looks while something is pending.
const TICK: Duration = Duration::from_millis(100);

/// What `up` was asked to do beyond the plan.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Wait for every target's health (or completion, for one-shot panes).
    pub wait: bool,
    /// Give up after this long.
    pub timeout: Option<Duration>,
    /// The targeted pane addresses (targets plus dependencies), or every pane.
    pub targets: Vec<String>,
    /// Called once new panes exist (the tmux server does): the daemon is started and given the
    /// manifest here. It need not be there before a command starts: each pane's sink logs
    /// from its first byte, and the daemon reads the log from the process's start.
    pub gate: Option<Gate>,
}

/// See [`Settings::gate`].
#[derive(Clone)]
pub struct Gate(pub std::sync::Arc<dyn Fn() -> Result<(), Error>>);

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gate")
    }
}

/// One pane in `up`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct PaneResult {
    /// `session/pane`.
    pub address: String,
    /// tmux pane id.
    pub tmux_id: String,
    /// running | exited | waiting (its dependencies do not hold yet).
    pub state: &'static str,
    /// Health as last seen.
    pub health: &'static str,
    /// Exit status if exited.
    pub exit_status: Option<i32>,
    /// What a waiting pane waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<Vec<Waiting>>,
}

/// Progress lines for a person watching.
pub trait Progress {
    /// One line of progress.
    fn line(&self, text: &str);
}

/// Drives one `up` run.
pub struct Up<'a> {
    tmux: &'a Tmux,
    project: &'a Project,
    graph: DepGraph,
    trackers: HashMap<String, Tracker>,
    ids: HashMap<String, String>,
    /// Panes whose real command is not started yet: address → what they wait for.
    pending: BTreeMap<String, Vec<(String, Condition)>>,
    started_at: Instant,
    settings: Settings,
    progress: &'a dyn Progress,
    /// Services without a check as `--wait` first saw each process: (pid, when).
    up_since: HashMap<String, (u32, Instant)>,
}

/// How long `up --wait` wants a service without a health check to stay up before it counts as
/// ready (the default `start_period`, as supervisord's `startsecs`).
pub const SERVICE_START: Duration = Duration::from_secs(1);

impl<'a> Up<'a> {
    /// Prepares a run.
    pub fn new(tmux: &'a Tmux, project: &'a Project, settings: Settings, progress: &'a dyn Progress) -> Self {
        Up {
            tmux,
            project,
            graph: DepGraph::new(project),
            trackers: HashMap::new(),
            ids: HashMap::new(),
            pending: BTreeMap::new(),
            started_at: Instant::now(),
            settings,
            progress,
            up_since: HashMap::new(),
        }
    }

    /// Applies `plan` against `live`, then waits as asked; returns the targets' final state.
    pub async fn run(mut self, plan: &Plan, live: &Live) -> Result<Vec<PaneResult>, Error> {
        for (address, lp) in live.managed(&self.project.name) {
            self.ids.insert(address, lp.pane_id.clone());
        }
        self.remove(plan).await?;
        let live = if plan.steps.iter().any(|s| matches!(s.change, Change::Remove { .. } | Change::Move { .. })) {
            self.tmux.live().await.map_err(|e| e.into_error("reading tmux state"))?
        } else {
            live.clone()
        };
        let mut seen = Observed {
            panes: live.managed(&self.project.name).into_iter().map(|(a, p)| (a, p.clone())).collect(),
            output: HashMap::new(),
        };
        // Placeholders the plan leaves waiting are this run's to start too (build adopts them).
        if !plan.is_empty() || !plan.waiting.is_empty() {
            self.build(plan, &live, &seen).await?;
            // What the build changed: the look before it still shows the panes it restarted
            // as stopped or dead (`start a b` failed with "a exited with status -1").
            seen = observe::observe(self.tmux, &self.project.name, &[])
                .await
                .map_err(|e| e.into_error("reading tmux state"))?;
        }
        // Unchanged panes that others wait on (or that --wait checks) get probed too.
        for address in &self.settings.targets {
            if !self.pending.contains_key(address) {
                self.trackers.entry(address.clone()).or_default();
            }
        }
        // Without --wait: a look after the last start found nothing more to start.
        let mut settled = false;
        loop {
            let ready = self.ready_pending(&seen);
            let started = !ready.is_empty();
            if started {
                self.start(&ready).await?;
            }
            let waiting_for_targets = self.settings.wait && !self.targets_done(&seen)?;
            if self.pending.is_empty() && !waiting_for_targets {
                break;
            }
            self.check_blocked(&seen)?;
            if !self.settings.wait {
                // Start what holds right away (`started`, `completed`, a pane without a check
                // running), then leave the rest to the daemon (or the next `up`): no probes, no
                // waiting for health.
                if settled && !started {
                    break;
                }
                settled = true;
                seen = observe::observe(self.tmux, &self.project.name, &[])
                    .await
                    .map_err(|e| e.into_error("watching panes"))?;
                continue;
            }
            self.check_timeout(&seen)?;
            tokio::time::sleep(TICK).await;
            seen = self.look().await?;
        }
        if !plan.is_empty() {
            // What the run left: the panes it created are not in the last look yet.
            seen = observe::observe(self.tmux, &self.project.name, &[])
                .await
                .map_err(|e| e.into_error("reading tmux state"))?;
        }
        Ok(self.results(&seen))
    }

    async fn remove(&mut self, plan: &Plan) -> Result<(), Error> {
        let mut cmds = Vec::new();
        for step in &plan.steps {
            if let Change::Remove { tmux_id } | Change::Move { tmux_id, .. } = &step.change {
                cmds.push(Cmd::new("kill-pane").opt("-t", tmux_id.clone()));
                self.progress.line(&format!("- removed {}", step.address));
                self.ids.remove(&step.address);
            }
        }
        self.tmux.run(&cmds).await.map(|_| ()).map_err(|e| e.into_error("removing panes"))
    }

    /// Builds every missing pane in one batch (placeholders where dependencies are pending) and
    /// respawns drifted panes whose dependencies already hold.
    async fn build(&mut self, plan: &Plan, live: &Live, seen: &Observed) -> Result<(), Error> {
        let mut existing = Existing::default();
        for p in &live.panes {
            existing.sessions.insert(p.session.clone());
            existing.windows.insert((p.session.clone(), p.window_name.clone()));
        }
        // Options first: global ones (`base-index`, `default-terminal`) hold for what is created.
        let mut cmds: Vec<Cmd> = plan.options.iter().map(|o| o.command()).collect();
        for o in &plan.options {
            let target = if o.target.is_empty() { String::new() } else { format!(" {}", o.target) };
            self.progress.line(&format!("~ set {} option{target} {} {}", o.level, o.option, o.value));
        }
        let mut created: Vec<String> = Vec::new();
        let mut respawned: Vec<String> = Vec::new();
        let mut new_windows: Vec<(String, String)> = Vec::new();
        // Manifest order for creation, so the layout matches the file.
        for pane in self.project.panes() {
            let address = pane.address();
            let Some(change) = plan.step(&address) else {
                continue;
            };
            let waits = self.unmet(&address, seen, &plan_targets(plan));
            match change {
                Change::Create | Change::Move { .. } => {
                    if !existing.windows.contains(&(pane.session.clone(), pane.window.clone())) {
                        new_windows.push((pane.session.clone(), pane.window.clone()));
                    }
                    let (argv, hash) = if waits.is_empty() {
                        (spec::launch(pane), spec::hash(pane))
                    } else {
                        (build::placeholder(&describe(&waits)), "pending".to_string())
                    };
                    cmds.extend(build::create(self.project, pane, argv, &hash, &mut existing));
                    created.push(address.clone());
                }
                Change::Recreate { tmux_id, .. } => {
                    let waiting = live.panes.iter().any(|p| p.pane_id == *tmux_id && super::pending::is_waiting(p));
                    if waits.is_empty() {
                        cmds.extend(build::respawn(self.project, pane, tmux_id));
                    } else if waiting {
                        // Already a placeholder saying what it waits for: leave it be.
                        self.pending.insert(address.clone(), waits);
                        continue;
                    } else {
                        // It waits, visibly, like a new pane: whoever starts pending panes
                        // (this run with --wait, or the daemon) starts it when they hold.
                        cmds.extend(build::respawn_placeholder(self.project, pane, tmux_id, &describe(&waits)));
                    }
                    respawned.push(address.clone());
                }
                Change::Remove { .. } => continue,
            }
            if !waits.is_empty() {
                self.pending.insert(address.clone(), waits);
            } else {
                self.trackers.insert(address.clone(), Tracker::new());
            }
        }
        // Placeholders the plan leaves waiting are still this run's to start (`--wait`, or
        // plain `up` when their conditions hold by the time it looks).
        for address in &plan.waiting {
            let waits = self.unmet(address, seen, &plan_targets(plan));
            if !waits.is_empty() {
                self.pending.insert(address.clone(), waits);
            } else if let (Some(pane), Some(lp)) = (
                self.project.pane(address),
                live.panes.iter().find(|p| p.address == *address && p.project == self.project.name),
            ) {
                // Its conditions hold by this run's own look: start it now.
                cmds.extend(build::respawn(self.project, pane, &lp.pane_id));
                respawned.push(address.clone());
                self.trackers.insert(address.clone(), Tracker::new());
            }
        }
        for window in self.project.sessions.values().flat_map(|s| s.windows.values()) {
            let key =
                (window.panes.values().next().map(|p| p.session.clone()).unwrap_or_default(), window.name.clone());
            let touched =
                created.iter().any(|a| self.project.pane(a).is_some_and(|p| p.session == key.0 && p.window == key.1));
            if touched {
                let target = build::window_target(&key.0, &key.1);
                cmds.push(
                    Cmd::new("select-layout")
                        .opt("-t", target.clone())
                        .arg(window.layout.clone().unwrap_or_else(|| "tiled".into())),
                );
                if new_windows.contains(&key) {
                    cmds.push(Cmd::new("select-pane").opt("-t", format!("{target}.{{top-left}}")));
                }
            }
        }
        for window in self.project.sessions.values().flat_map(|s| s.windows.values()) {
            for pane in window.panes.values().filter(|p| p.focus && created.contains(&p.address())) {
                cmds.push(Cmd::new("select-window").opt("-t", build::window_target(&pane.session, &pane.window)));
            }
        }
        let out = self.tmux.run(&cmds).await.map_err(|e| e.into_error("creating panes"))?;
        // The daemon (started now that the server exists) follows the new panes' logs from
        // their start: their sinks log every byte whether or not it runs yet.
        if !created.is_empty()
            && let Some(gate) = self.settings.gate.clone()
        {
            (gate.0)()?;
        }
        for (address, id) in created.iter().zip(out.lines().filter(|l| l.starts_with('%'))) {
            self.ids.insert(address.clone(), id.to_string());
            let note = self.pending.get(address).map_or(String::new(), |w| format!(" (waiting for {})", describe(w)));
            self.progress.line(&format!("+ created {address} {id}{note}"));
        }
        self.apply_focus(&created).await?;
        for address in respawned {
            let reason = match plan.step(&address) {
                Some(Change::Recreate { reason, .. }) => reason.as_str(),
                _ => "",
            };
            let note = self.pending.get(&address).map_or(String::new(), |w| format!(", waiting for {}", describe(w)));
            self.progress.line(&format!("~ recreated {address} ({reason}){note}"));
        }
        Ok(())
    }

    /// Selects, among the windows and panes this run created, those marked `focus: true` (a
    /// snapshot records the active window and pane this way); panes are known by id only now.
    async fn apply_focus(&self, created: &[String]) -> Result<(), Error> {
        let fresh = |a: &String| created.contains(a);
        let mut cmds = Vec::new();
        let windows = || self.project.sessions.values().flat_map(|s| s.windows.values());
        for pane in windows().flat_map(|w| w.panes.values()).filter(|p| p.focus && fresh(&p.address())) {
            if let Some(id) = self.ids.get(&pane.address()) {
                cmds.push(Cmd::new("select-pane").opt("-t", id.clone()));
            }
        }
        // After the panes: a window's own `focus` wins over its panes' windows.
        for window in windows() {
            if window.focus
                && let Some(first) = window.panes.values().find(|p| fresh(&p.address()))
            {
                cmds.push(Cmd::new("select-window").opt("-t", build::window_target(&first.session, &window.name)));
            }
        }
        if cmds.is_empty() {
            return Ok(());
        }
        self.tmux.run(&cmds).await.map(|_| ()).map_err(|e| e.into_error("selecting focused panes"))
    }

    /// Dependencies of `address` not satisfied now.
    fn unmet(&self, address: &str, seen: &Observed, changing: &[String]) -> Vec<(String, Condition)> {
        self.graph
            .dependencies_of(address)
            .into_iter()
            .filter(|(target, cond)| {
                changing.contains(target) || self.pending.contains_key(target) || !self.holds(target, *cond, seen)
            })
            .collect()
    }

    /// Whether `condition` holds for `target` now.
    fn holds(&self, target: &str, condition: Condition, seen: &Observed) -> bool {
        if self.pending.contains_key(target) {
            return false;
        }
        let Some(lp) = seen.panes.get(target) else {
            return false;
        };
        if lp.hash == "pending" {
            return false;
        }
        match condition {
            Condition::Started => true,
            Condition::Completed => lp.dead,
            Condition::CompletedSuccessfully => lp.dead && lp.exit_status == Some(0),
            Condition::Healthy => match self.project.pane(target) {
                Some(p) if p.health.is_some() || p.ready_when.is_some() => {
                    self.trackers.get(target).is_some_and(|t| t.state == State::Healthy)
                }
                // No check defined: running is as healthy as it gets.
                _ => !lp.dead,
            },
        }
    }

    fn ready_pending(&mut self, seen: &Observed) -> Vec<String> {
        let ready: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, waits)| waits.iter().all(|(t, c)| self.holds(t, *c, seen)))
            .map(|(a, _)| a.clone())
            .collect();
        for a in &ready {
            self.pending.remove(a);
        }
        ready
    }

    async fn start(&mut self, ready: &[String]) -> Result<(), Error> {
        let mut cmds = Vec::new();
        for address in ready {
            let (Some(pane), Some(id)) = (self.project.pane(address), self.ids.get(address)) else {
                continue;
            };
            cmds.extend(build::respawn(self.project, pane, id));
            self.trackers.insert(address.clone(), Tracker::new());
        }
        self.tmux.run(&cmds).await.map_err(|e| e.into_error("starting panes"))?;
        for a in ready {
            self.progress.line(&format!("▶ started {a}"));
        }
        Ok(())
    }

    /// One look: pane states, output of panes with output checks, due probes.
    async fn look(&mut self) -> Result<Observed, Error> {
        let capture: Vec<String> = self
            .trackers
            .iter()
            .filter(|(a, t)| t.state != State::Healthy && self.project.pane(a).is_some_and(needs_output))
            .filter_map(|(a, _)| self.ids.get(a).cloned())
            .collect();
        let seen = observe::observe(self.tmux, &self.project.name, &capture)
            .await
            .map_err(|e| e.into_error("watching panes"))?;
        let mut probes = Vec::new();
        for (address, tracker) in &self.trackers {
            let Some(pane) = self.project.pane(address) else {
                continue;
            };
            if tracker.state == State::Healthy && !tracker.due() || !tracker.due() {
                continue;
            }
            if seen.panes.get(address).is_none_or(|lp| lp.dead) {
                continue;
            }
            let output = self.ids.get(address).and_then(|id| seen.output.get(id));
            if let Some(result) = output_check(pane, output) {
                probes.push((address.clone(), futures_ready(result)));
                continue;
            }
            if let Some(h) = &pane.health {
                let (check, pane, timeout) = (h.check.clone(), pane.clone(), h.timeout);
                probes.push((address.clone(), Box::pin(async move { health::probe(&check, &pane, timeout).await })));
            }
        }
        let results = futures_join(probes).await;
        let mut healthy = Vec::new();
        for (address, result) in results {
            let Some(pane) = self.project.pane(&address) else {
                continue;
            };
            let default_health = crate::manifest::model::Health {
                check: Check::Exec(String::new()),
                interval: Duration::from_secs(2),
                start_interval: TICK,
                timeout: Duration::from_secs(1),
                // `ready_when` alone never turns a pane unhealthy: it has not matched *yet*.
                retries: u32::MAX,
                start_period: Duration::ZERO,
            };
            let h = pane.health.as_ref().unwrap_or(&default_health);
            if let Some(t) = self.trackers.get_mut(&address) {
                let before = t.state;
                t.record(h, result);
                if before != t.state {
                    self.progress.line(&format!("♥ {address} {}", t.state.as_str()));
                    if t.state == State::Healthy
                        && self.settings.gate.is_some()
                        && let Some(id) = self.ids.get(&address)
                    {
                        let set = ["-p", "-t", id, "@ctmux-health", State::Healthy.as_str()];
                        healthy.push(Cmd::new("set-option").args(set));
                    }
                }
            }
        }
        // With a daemon (which keeps this option current from its own checks), what we saw is
        // news for `status` until the daemon's checks speak: `status` right after `up --wait`
        // agrees with it. Without one, `status` probes for itself.
        if !healthy.is_empty() {
            self.tmux.run(&healthy).await.map_err(|e| e.into_error("recording health"))?;
        }
        Ok(seen)
    }

    /// With `--wait`: every service healthy (or, without a check, up for [`SERVICE_START`]) and
    /// every job ([`Project::is_job`]) exited 0. Any target that failed fails the run at once —
    /// all targets are checked for failure before any is waited on, so a service that died
    /// while a job still runs is reported now, not at `--timeout`. A service that exited is a
    /// failure whatever its status (exit 0 gets a hint to mark it `job: true`).
    fn targets_done(&mut self, seen: &Observed) -> Result<bool, Error> {
        for address in &self.settings.targets {
            if self.pending.contains_key(address) {
                continue;
            }
            let (Some(_), Some(lp)) = (self.project.pane(address), seen.panes.get(address)) else {
                continue;
            };
            if !lp.dead || lp.hash == crate::reconcile::pending::PENDING {
                continue;
            }
            let job = self.project.is_job(address);
            if job && lp.exit_status == Some(0) {
                continue;
            }
            let what = if job {
                "a job: it must exit 0".to_string()
            } else if lp.exit_status == Some(0) {
                "a service: it must keep running; if it is meant to finish, mark it `job: true`".to_string()
            } else {
                "a service: it must keep running".to_string()
            };
            return Err(self.failure(address, seen, &format!("{} ({what})", exit_text(lp))));
        }
        let now = Instant::now();
        let mut done = true;
        for address in &self.settings.targets {
            if self.pending.contains_key(address) {
                done = false;
                continue;
            }
            let Some(pane) = self.project.pane(address) else {
                continue;
            };
            let Some(lp) = seen.panes.get(address) else {
                done = false;
                continue;
            };
            if lp.dead {
                continue;
            }
            if self.project.is_job(address) {
                done = false;
            } else if pane.health.is_some() || pane.ready_when.is_some() {
                done &= self.holds(address, Condition::Healthy, seen);
            } else {
                // Without a check, a service is ready once it has stayed up a while (as
                // supervisord's `startsecs`): `sleep 0.3; exit 2` is not ready.
                let since = self.up_since.entry(address.clone()).or_insert((lp.pid, now));
                if since.0 != lp.pid {
                    *since = (lp.pid, now);
                }
                let up_before = lp.started.is_some_and(|t| {
                    crate::reconcile::build::now_secs().saturating_sub(t) > SERVICE_START.as_secs() + 1
                });
                done &= up_before || now.duration_since(since.1) >= SERVICE_START;
            }
        }
        Ok(done)
    }

    /// A pending pane whose dependency can no longer be satisfied fails the run.
    fn check_blocked(&self, seen: &Observed) -> Result<(), Error> {
        for (address, waits) in &self.pending {
            for (target, cond) in waits {
                let Some(lp) = seen.panes.get(target) else {
                    continue;
                };
                let Some(tp) = self.project.pane(target) else {
                    continue;
                };
                let hopeless = lp.dead
                    && tp.restart == Restart::No
                    && match cond {
                        Condition::CompletedSuccessfully => lp.exit_status != Some(0),
                        Condition::Healthy | Condition::Started => true,
                        Condition::Completed => false,
                    };
                if hopeless {
                    return Err(self.failure(
                        target,
                        seen,
                        &format!(
                            "exited with status {}, so `{address}` (waiting for it to be {}) cannot start",
                            lp.exit_status.unwrap_or(-1),
                            cond.as_str()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_timeout(&self, seen: &Observed) -> Result<(), Error> {
        let Some(limit) = self.settings.timeout else {
            return Ok(());
        };
        if self.started_at.elapsed() < limit {
            return Ok(());
        }
        let mut lines = Vec::new();
        for address in self.settings.targets.iter().chain(self.pending.keys()) {
            if lines.iter().any(|l: &String| l.starts_with(&format!("{address}:"))) {
                continue;
            }
            let state = self.describe_state(address, seen);
            if let Some(s) = state {
                lines.push(s);
            }
        }
        Err(Error::Timeout {
            message: format!(
                "not ready after {}: {}",
                crate::units::format_duration(limit),
                lines.iter().map(|l| l.split(':').next().unwrap_or_default()).collect::<Vec<_>>().join(", ")
            ),
            hint: Some(lines.join("\n")),
        })
    }

    /// "address: state …, last lines" for a pane that is not ready, or None if it is.
    fn describe_state(&self, address: &str, seen: &Observed) -> Option<String> {
        if let Some(waits) = self.pending.get(address) {
            return Some(format!("{address}: waiting for {}", describe(waits)));
        }
        let lp = seen.panes.get(address)?;
        let pane = self.project.pane(address)?;
        if self.project.is_job(address) && !lp.dead {
            return Some(format!("{address}: job still running{}", self.last_output(address)));
        }
        let checked = pane.health.is_some() || pane.ready_when.is_some();
        if !checked || self.holds(address, Condition::Healthy, seen) {
            return None;
        }
        let t = self.trackers.get(address);
        let state = t.map_or("starting", |t| t.state.as_str());
        let why = t.and_then(|t| t.last_error.clone()).map_or(String::new(), |e| format!(" (last check: {e})"));
        Some(format!(
            "{address}: {} {state}{why}{}",
            if lp.dead { "exited" } else { "running" },
            self.last_output(address)
        ))
    }

    /// The pane's last lines: from its log when it has one (tmux's screen can lack the last
    /// words of a process that printed and exited), else from the screen.
    fn last_output(&self, address: &str) -> String {
        let Some(id) = self.ids.get(address) else {
            return String::new();
        };
        if let Some(lines) = self.logged_tail(address) {
            return format!("\n    last output:\n      {}", lines.join("\n      "));
        }
        let text = std::process::Command::new(self.tmux.binary())
            .args(self.tmux.socket.client_flags())
            .args(["capture-pane", "-p", "-J", "-S", "-200", "-t", id])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let lines = observe::last_lines(&text, 5);
        if lines.is_empty() { String::new() } else { format!("\n    last output:\n      {}", lines.join("\n      ")) }
    }

    /// The last 5 non-blank lines the pane's current process logged, once its sink has settled
    /// (it writes what tmux drained at the exit a moment later); None without such lines.
    fn logged_tail(&self, address: &str) -> Option<Vec<String>> {
        let path = crate::daemon::paths::pane_log(&self.tmux.socket, &self.project.name, address).ok()?;
        let mut size = std::fs::metadata(&path).ok()?.len();
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(60));
            let now = std::fs::metadata(&path).map_or(size, |m| m.len());
            if now == size {
                break;
            }
            size = now;
        }
        // Only what this process printed: the log keeps earlier runs (before a `down`, too).
        let since = self
            .ids
            .get(address)
            .and_then(|id| {
                std::process::Command::new(self.tmux.binary())
                    .args(self.tmux.socket.client_flags())
                    .args(["show-options", "-pqv", "-t", id, "@ctmux-started"])
                    .output()
                    .ok()
            })
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<u64>().ok())
            .map_or(0, |secs| secs * 1000);
        let lines: Vec<String> = crate::daemon::logfile::recent(&path, since)
            .iter()
            .map(|l| crate::ansi::strip(String::from_utf8_lossy(&l.raw).trim_end()))
            .filter(|l| !l.trim().is_empty())
            .collect();
        (!lines.is_empty()).then(|| lines[lines.len().saturating_sub(5)..].to_vec())
    }

    fn failure(&self, address: &str, _seen: &Observed, what: &str) -> Error {
        Error::failed(
            format!("{address} {what}"),
            Some(format!("{address}{}", self.last_output(address)).trim().to_string()),
        )
    }

    fn results(&self, seen: &Observed) -> Vec<PaneResult> {
        self.settings
            .targets
            .iter()
            .filter_map(|a| {
                let lp = seen.panes.get(a)?;
                let pane = self.project.pane(a)?;
                let health = if pane.health.is_none() && pane.ready_when.is_none() {
                    "none"
                } else {
                    self.trackers.get(a).map_or("starting", |t| t.state.as_str())
                };
                let waiting_for = self
                    .pending
                    .get(a)
                    .map(|w| w.iter().map(|(t, c)| Waiting { target: t.clone(), condition: c.as_str() }).collect());
                Some(PaneResult {
                    address: a.clone(),
                    tmux_id: lp.pane_id.clone(),
                    state: if waiting_for.is_some() {
                        "waiting"
                    } else if lp.dead {
                        "exited"
                    } else {
                        "running"
                    },
                    health,
                    exit_status: lp.exit_status,
                    waiting_for,
                })
            })
            .collect()
    }
}

/// "exited with status 7" or "was killed by signal 9".
fn exit_text(lp: &crate::tmux::LivePane) -> String {
    match (lp.exit_status, lp.exit_signal) {
        (Some(status), _) => format!("exited with status {status}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "exited".to_string(),
    }
}

fn plan_targets(plan: &Plan) -> Vec<String> {
    plan.steps.iter().filter(|s| !matches!(s.change, Change::Remove { .. })).map(|s| s.address.clone()).collect()
}

fn describe(waits: &[(String, Condition)]) -> String {
    waits.iter().map(|(t, c)| format!("{t} {}", c.as_str())).collect::<Vec<_>>().join(", ")
}

fn needs_output(pane: &Pane) -> bool {
    pane.ready_when.is_some() || matches!(pane.health.as_ref().map(|h| &h.check), Some(Check::Log(_)))
}

/// `ready_when` / `log` checks against captured output; `None` when the pane has neither.
fn output_check(pane: &Pane, output: Option<&String>) -> Option<Result<(), String>> {
    let pattern = pane.ready_when.as_ref().or(match pane.health.as_ref().map(|h| &h.check) {
        Some(Check::Log(p)) => Some(p),
        _ => None,
    })?;
    let text = output.map(String::as_str).unwrap_or_default();
    Some(if text.lines().any(|l| pattern.regex.is_match(l)) {
        Ok(())
    } else {
        Err(format!("no output line matches /{}/ yet", pattern.source))
    })
}

type ProbeFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

fn futures_ready(result: Result<(), String>) -> ProbeFuture {
    Box::pin(async move { result })
}

async fn futures_join(probes: Vec<(String, ProbeFuture)>) -> Vec<(String, Result<(), String>)> {
    let mut set = tokio::task::JoinSet::new();
    for (address, fut) in probes {
        set.spawn(async move { (address, fut.await) });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(pair) = r {
            out.push(pair);
        }
    }
    out
}
