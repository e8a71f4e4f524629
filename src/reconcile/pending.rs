//! Pending panes: placeholders (`@ctmux-hash` `pending`) that `up` built because their
//! dependencies did not hold yet. Whoever starts them — `up --wait` itself, or the daemon once
//! `up` has handed them over (returned, or been interrupted) — decides from what tmux holds: a
//! dependency's state, exit status and `@ctmux-health`, which the daemon keeps current.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::graph::DepGraph;
use crate::manifest::model::{Condition, Project};
use crate::tmux::{Cmd, Live, LivePane};

/// The `@ctmux-hash` of a placeholder.
pub const PENDING: &str = "pending";

/// One dependency a waiting pane waits for, as `status --json` shows it (`waiting_for`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiting {
    /// The address waited on.
    pub target: String,
    /// `started`, `healthy`, `completed` or `completed_successfully`.
    pub condition: &'static str,
}

/// Whether a live pane is a placeholder still waiting to start (not stopped by `down`/`stop`).
pub fn is_waiting(lp: &LivePane) -> bool {
    lp.hash == PENDING && !lp.dead && lp.state != "stopped"
}

/// Whether `condition` holds for `target` as tmux shows it now.
pub fn holds(project: &Project, managed: &BTreeMap<String, &LivePane>, target: &str, condition: Condition) -> bool {
    let Some(lp) = managed.get(target) else {
        return false;
    };
    if lp.hash == PENDING {
        return false;
    }
    match condition {
        Condition::Started => true,
        Condition::Completed => lp.dead,
        Condition::CompletedSuccessfully => lp.dead && lp.exit_status == Some(0),
        Condition::Healthy => match project.pane(target) {
            Some(p) if p.health.is_some() || p.ready_when.is_some() => !lp.dead && lp.health == "healthy",
            // No check defined: running is as healthy as it gets.
            _ => !lp.dead,
        },
    }
}

/// The dependencies of `address` that do not hold now.
pub fn unmet(
    project: &Project,
    graph: &DepGraph,
    managed: &BTreeMap<String, &LivePane>,
    address: &str,
) -> Vec<Waiting> {
    graph
        .dependencies_of(address)
        .into_iter()
        .filter(|(target, condition)| !holds(project, managed, target, *condition))
        .map(|(target, condition)| Waiting { target, condition: condition.as_str() })
        .collect()
}

/// The commands that start `project`'s waiting panes whose dependencies all hold now, and
/// their addresses.
pub fn start_ready(project: &Project, live: &Live) -> (Vec<Cmd>, Vec<String>) {
    let graph = DepGraph::new(project);
    let managed = live.managed(&project.name);
    let mut cmds = Vec::new();
    let mut started = Vec::new();
    for (address, lp) in &managed {
        let Some(pane) = project.pane(address) else { continue };
        if is_waiting(lp) && unmet(project, &graph, &managed, address).is_empty() {
            cmds.extend(super::build::respawn(project, pane, &lp.pane_id));
            started.push(address.clone());
        }
    }
    (cmds, started)
}

/// "db/postgres healthy, jobs/migrate completed_successfully".
pub fn describe(waits: &[Waiting]) -> String {
    waits.iter().map(|w| format!("{} {}", w.target, w.condition)).collect::<Vec<_>>().join(", ")
}
