//! `ctmux status` (alias `ps`): every pane of the manifest with its live state and health.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::stack::{Stack, runtime};
use crate::cli::args::StatusArgs;
use crate::cli::{Ctx, Result};
use crate::exit::Exit;
use crate::manifest::model::{Check, Pane};
use crate::reconcile::pending::{self, Waiting};
use crate::reconcile::{health, observe};
use crate::tmux::LivePane;

/// A pane in `--json` output: the pane shape shared by every verb (docs/cli.md).
#[derive(Debug, Serialize)]
pub struct PaneDoc {
    /// ctmux address (`session/pane`).
    pub address: Option<String>,
    /// tmux pane id.
    pub tmux_id: Option<String>,
    /// Session name.
    pub session: String,
    /// Window name.
    pub window: String,
    /// Pane name.
    pub pane: String,
    /// running | waiting | exited | missing | stopped.
    pub state: &'static str,
    /// none | starting | healthy | unhealthy.
    pub health: &'static str,
    /// Pane process id.
    pub pid: Option<u32>,
    /// Exit status when exited.
    pub exit_status: Option<i32>,
    /// Restarts by ctmux.
    pub restarts: u32,
    /// The daemon used up `max_restarts` and left the pane exited (a `restart` or `start`
    /// gives it the budget again).
    pub gave_up: bool,
    /// The manifest command.
    pub command: Option<String>,
    /// Working directory.
    pub cwd: String,
    /// Unix time of the last start.
    pub started_at: Option<u64>,
    /// Pane metadata.
    pub metadata: BTreeMap<String, String>,
    /// CPU of the pane's process tree, % of one core, from the daemon's last sample (`status`
    /// only; measured on the spot when there is none from the last two minutes).
    pub cpu_percent: Option<f64>,
    /// Resident memory of the tree in bytes, likewise.
    pub memory_bytes: Option<u64>,
    /// What a `waiting` pane waits for: its dependencies that do not hold yet (`status` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<Vec<Waiting>>,
}

impl PaneDoc {
    /// The document for a live pane; `manifest` adds what only the manifest knows.
    pub fn from_live(lp: &LivePane, manifest: Option<&Pane>, metadata: BTreeMap<String, String>) -> PaneDoc {
        let managed = !lp.address.is_empty();
        PaneDoc {
            address: managed.then(|| lp.address.clone()),
            tmux_id: Some(lp.pane_id.clone()),
            session: lp.session.clone(),
            window: lp.window_name.clone(),
            pane: if managed {
                lp.address.rsplit('/').next().unwrap_or_default().to_string()
            } else {
                lp.pane_index.to_string()
            },
            state: state_of(Some(lp)),
            health: match lp.health.as_str() {
                "starting" => "starting",
                "healthy" => "healthy",
                "unhealthy" => "unhealthy",
                _ => "none",
            },
            pid: (!lp.dead && !pending::is_waiting(lp)).then_some(lp.pid),
            exit_status: lp.exit_status,
            restarts: lp.restarts,
            gave_up: lp.gave_up && state_of(Some(lp)) == "exited",
            command: manifest
                .and_then(|p| p.command_text.0.clone().or_else(|| p.command.as_ref().map(|c| c.display())))
                .or_else(|| Some(lp.current_command.clone())),
            cwd: if lp.current_path.is_empty() {
                manifest.map(|p| p.cwd.display().to_string()).unwrap_or_default()
            } else {
                lp.current_path.clone()
            },
            started_at: lp.started,
            metadata,
            cpu_percent: None,
            memory_bytes: None,
            waiting_for: None,
        }
    }
}

#[derive(Serialize)]
struct StatusDoc<'a> {
    project: &'a str,
    /// running | restarted (it was down: started again now) | down | off (`up --no-daemon`,
    /// or nothing managed).
    daemon: &'static str,
    panes: &'a [PaneDoc],
}

fn state_of(lp: Option<&LivePane>) -> &'static str {
    match lp {
        None => "missing",
        Some(lp) if lp.state == "stopped" => "stopped",
        Some(lp) if lp.dead => "exited",
        // `up`'s placeholder, not the pane's command: its pid is not the pane's process.
        Some(lp) if pending::is_waiting(lp) => "waiting",
        Some(_) => "running",
    }
}

async fn health_of(pane: &Pane, lp: Option<&LivePane>, output: Option<&String>) -> health::State {
    // A pane that is not there, or that was stopped on purpose (`down`, `stop`), has no health to
    // report: its state says it all.
    if matches!(state_of(lp), "missing" | "stopped") {
        return health::State::None;
    }
    let Some(lp) = lp.filter(|lp| !lp.dead) else {
        return if pane.health.is_some() || pane.ready_when.is_some() {
            health::State::Unhealthy
        } else {
            health::State::None
        };
    };
    // The daemon keeps `@ctmux-health` current from its own probes and output watch.
    if let Some(state) = [health::State::Starting, health::State::Healthy, health::State::Unhealthy]
        .into_iter()
        .find(|s| s.as_str() == lp.health)
    {
        return state;
    }
    let pattern = pane.ready_when.as_ref().or(match pane.health.as_ref().map(|h| &h.check) {
        Some(Check::Log(p)) => Some(p),
        _ => None,
    });
    if let Some(p) = pattern {
        let seen = output.is_some_and(|o| o.lines().any(|l| p.regex.is_match(l)));
        if pane.health.as_ref().is_none_or(|h| matches!(h.check, Check::Log(_))) {
            return if seen { health::State::Healthy } else { health::State::Starting };
        }
    }
    match &pane.health {
        Some(h) => match health::probe(&h.check, pane, h.timeout.min(Duration::from_secs(1))).await {
            Ok(()) => health::State::Healthy,
            Err(_) => health::State::Unhealthy,
        },
        None => health::State::None,
    }
}

/// How long `status` measures CPU itself when the daemon has no sample of a pane yet.
const ON_DEMAND_INTERVAL: Duration = Duration::from_millis(250);

/// Runs `status`.
pub fn run(ctx: &Ctx, args: &StatusArgs) -> Result {
    let stack = Stack::open(ctx)?;
    let addresses = stack.addresses(&args.targets)?;
    let rt = runtime()?;
    let project = stack.project();
    let daemon = super::supervise::supervise(ctx, &stack.tmux.socket);
    let live = rt.block_on(stack.tmux.live()).map_err(|e| e.into_error("reading tmux state"))?;
    let managed = live.managed(&project.name);
    let capture: Vec<String> = addresses
        .iter()
        .filter(|a| {
            project.pane(a).is_some_and(|p| {
                p.ready_when.is_some() || matches!(p.health.as_ref().map(|h| &h.check), Some(Check::Log(_)))
            })
        })
        .filter_map(|a| managed.get(a).map(|lp| lp.pane_id.clone()))
        .collect();
    // A second look only when some pane's health is read from its output.
    let seen = if capture.is_empty() {
        observe::Observed::default()
    } else {
        rt.block_on(observe::observe(&stack.tmux, &project.name, &capture))
            .map_err(|e| e.into_error("reading pane output"))?
    };
    let docs: Vec<PaneDoc> = rt.block_on(async {
        let mut docs = Vec::new();
        for a in &addresses {
            let Some(pane) = project.pane(a) else {
                continue;
            };
            let lp = managed.get(a).copied();
            let output = lp.and_then(|lp| seen.output.get(&lp.pane_id));
            let waiting_for =
                lp.filter(|lp| pending::is_waiting(lp)).map(|_| pending::unmet(project, &stack.graph, &managed, a));
            let health = if waiting_for.is_some() { health::State::None } else { health_of(pane, lp, output).await };
            docs.push(PaneDoc {
                address: Some(a.clone()),
                tmux_id: lp.map(|l| l.pane_id.clone()),
                session: pane.session.clone(),
                window: pane.window.clone(),
                pane: pane.name.clone(),
                state: state_of(lp),
                health: health.as_str(),
                pid: lp.filter(|l| !l.dead && waiting_for.is_none()).map(|l| l.pid),
                exit_status: lp.and_then(|l| l.exit_status),
                restarts: lp.map_or(0, |l| l.restarts),
                gave_up: lp.is_some_and(|l| l.gave_up && state_of(Some(l)) == "exited"),
                command: pane.command_text.0.clone().or_else(|| pane.command.as_ref().map(|c| c.display())),
                cwd: pane.cwd.display().to_string(),
                started_at: lp.and_then(|l| l.started),
                metadata: pane.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                cpu_percent: None,
                memory_bytes: None,
                waiting_for,
            });
        }
        docs
    });
    let mut docs = docs;
    // The daemon's latest samples (it samples every 10–60 s); none is shown rather than an old one.
    if let Ok(store) = crate::store::Store::open() {
        let fresh = crate::store::now_ms() - 120_000;
        for d in docs.iter_mut().filter(|d| d.state == "running") {
            let Some(address) = &d.address else { continue };
            if let Ok(Some((ts, u))) = store.latest_metrics(&stack.tmux.socket.key(), &project.name, address)
                && ts >= fresh
            {
                d.cpu_percent = Some(u.cpu_percent);
                d.memory_bytes = Some(u.memory_bytes);
            }
        }
    }
    // No sample yet (the daemon's first comes up to 60 s after a start): measure now, once.
    let unsampled: Vec<LivePane> = docs
        .iter()
        .filter(|d| d.state == "running" && d.cpu_percent.is_none())
        .filter_map(|d| managed.get(d.address.as_deref()?).map(|lp| (*lp).clone()))
        .collect();
    if !unsampled.is_empty() {
        let measured = rt.block_on(super::metrics::measure(&unsampled, ON_DEMAND_INTERVAL));
        for m in measured {
            let (Some(address), Some(u)) = (m.address, m.usage) else { continue };
            if let Some(d) = docs.iter_mut().find(|d| d.address.as_deref() == Some(address.as_str())) {
                d.cpu_percent = Some(u.cpu_percent);
                d.memory_bytes = Some(u.memory_bytes);
            }
        }
    }
    if ctx.json() {
        ctx.print_json(&StatusDoc { project: &project.name, daemon: daemon.as_str(), panes: &docs });
        return Ok(Exit::Ok);
    }
    if daemon == super::supervise::Daemon::Down {
        println!("! the daemon is down: no logs, rules, restarts or health checks until it runs");
    }
    if let Some(note) = half_built(docs.iter().map(|d| d.state)) {
        println!("! {note}");
    }
    println!(
        "{:<28} {:<8} {:<10} {:>8} {:>5} {:>4} {:>7} {:>10} {:>8}  COMMAND",
        "PANE", "STATE", "HEALTH", "PID", "EXIT", "RST", "CPU", "MEM", "UPTIME"
    );
    let now = crate::reconcile::build::now_secs();
    let mut last_session = "";
    for d in &docs {
        if d.session != last_session {
            println!("{}", d.session);
            last_session = &d.session;
        }
        let uptime = match (d.state, d.started_at) {
            ("running", Some(t)) => crate::units::format_duration(Duration::from_secs(now.saturating_sub(t))),
            _ => "-".into(),
        };
        println!(
            "  {:<26} {:<8} {:<10} {:>8} {:>5} {:>4} {:>7} {:>10} {:>8}  {}",
            d.pane,
            d.state,
            d.health,
            d.pid.map_or("-".into(), |p| p.to_string()),
            d.exit_status.map_or("-".into(), |s| s.to_string()),
            d.restarts,
            d.cpu_percent.map_or("-".into(), |c| format!("{c:.1}%")),
            d.memory_bytes.map_or("-".into(), crate::units::format_size_human),
            uptime,
            match &d.waiting_for {
                Some(w) if !w.is_empty() => format!("(waiting for {})", pending::describe(w)),
                Some(_) => "(starting: its dependencies hold)".to_string(),
                None if d.gave_up => format!(
                    "(gave up after {} restarts: `ctmux restart {}` starts it with a fresh budget)",
                    d.restarts,
                    d.address.as_deref().unwrap_or_default()
                ),
                None => one_line(d.command.as_deref().unwrap_or("(shell)"), 60),
            }
        );
    }
    Ok(Exit::Ok)
}

/// The first line of `text`, cut to `max` characters, marked with `…` when anything was cut.
fn one_line(text: &str, max: usize) -> String {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default().trim();
    let cut: String = first.chars().take(max).collect();
    if cut.len() < first.len() || text.trim().lines().count() > 1 { format!("{cut} …") } else { cut }
}

/// "the layout is half built: 3 of 10 panes missing…" when some of the project's panes exist and
/// others do not (an `up` killed before it finished, or panes killed by hand); `None` otherwise.
pub fn half_built<'a>(states: impl Iterator<Item = &'a str>) -> Option<String> {
    let (mut missing, mut all) = (0, 0);
    for s in states {
        all += 1;
        missing += usize::from(s == "missing");
    }
    (missing > 0 && missing < all).then(|| {
        format!(
            "the layout is half built: {missing} of {all} panes missing (new in the manifest, an `up` stopped before it finished, or panes were killed); `ctmux up` builds them"
        )
    })
}
