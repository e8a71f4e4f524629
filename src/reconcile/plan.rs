//! The plan: desired (manifest) vs live (tmux) as plain data, computed without touching tmux.
//!
//! `up` applies it, `plan` prints it, `plan --exit-code` and the tests read it. Rules:
//! a missing pane is created; a pane whose spec hash changed is recreated in place; a pane that
//! failed (or was stopped) is respawned; a one-shot pane that exited 0 is done and left alone;
//! managed panes no longer in the manifest are orphans, removed only with `--remove-orphans`.

use indexmap::IndexSet;
use serde::Serialize;

use super::spec;
use crate::graph::DepGraph;
use crate::manifest::model::{Project, Restart};
use crate::tmux::Live;

/// How `up` was asked to behave.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Pane addresses to act on (targets plus their dependencies); `None` is every pane.
    pub targets: Option<IndexSet<String>>,
    /// Also recreate dependents of recreated panes.
    pub cascade: bool,
    /// Recreate every targeted pane.
    pub recreate: bool,
    /// Remove managed panes that are not in the manifest.
    pub remove_orphans: bool,
    /// Jobs GC removed after they completed ([`crate::gc::removed_jobs`]): created again, and
    /// the plan says "rerun job".
    pub collected: std::collections::HashSet<String>,
}

/// One change to one pane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// Create the pane (and its window and session if needed).
    Create,
    /// Restart the pane in place with its new spec (`respawn-pane -k`).
    Recreate {
        /// The live pane.
        tmux_id: String,
        /// Why.
        reason: String,
    },
    /// Kill the pane and create it where the manifest now puts it.
    Move {
        /// The live pane.
        tmux_id: String,
        /// Window it is in now.
        from_window: String,
    },
    /// Remove a managed pane the manifest no longer has.
    Remove {
        /// The live pane.
        tmux_id: String,
    },
}

/// A change to the pane at `address`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `session/pane`.
    pub address: String,
    /// What happens to it.
    #[serde(flatten)]
    pub change: Change,
    /// Why, where the change alone does not say (`rerun job: …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Everything `up` would do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// Changes in start order (removals first).
    pub steps: Vec<Step>,
    /// Targeted panes already as the manifest says.
    pub unchanged: Vec<String>,
    /// Managed panes not in the manifest, left alone (no `--remove-orphans`).
    pub orphans: Vec<String>,
    /// Placeholders still waiting for dependencies that do not hold: nothing to change in tmux
    /// (whoever starts pending panes starts them, with the manifest as it is then).
    pub waiting: Vec<String>,
    /// tmux options to set again (drifted, or global ones on a server not started yet); filled
    /// in by [`super::options::drift`], which reads the server.
    pub options: Vec<super::options::OptionChange>,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.options.is_empty()
    }

    /// The step for `address`, if any.
    pub fn step(&self, address: &str) -> Option<&Change> {
        self.steps.iter().find(|s| s.address == address).map(|s| &s.change)
    }
}

/// Computes the plan for `project` against `live`.
pub fn plan(project: &Project, live: &Live, graph: &DepGraph, opts: &Options) -> Plan {
    let managed = live.managed(&project.name);
    let targeted = |a: &str| opts.targets.as_ref().is_none_or(|t| t.contains(a));
    let mut plan = Plan::default();
    let mut changed: Vec<String> = Vec::new();

    for (address, lp) in &managed {
        if project.pane(address).is_none() {
            if opts.remove_orphans || project.is_scaled_away(address) {
                plan.steps.push(Step {
                    address: address.clone(),
                    change: Change::Remove { tmux_id: lp.pane_id.clone() },
                    reason: None,
                });
            } else {
                plan.orphans.push(address.clone());
            }
        }
    }

    let order: Vec<String> = graph.waves(None).into_iter().flatten().collect();
    for address in &order {
        if !targeted(address) {
            continue;
        }
        let Some(pane) = project.pane(address) else {
            continue;
        };
        if let Some(lp) = managed.get(address)
            && super::pending::is_waiting(lp)
            && !opts.recreate
            && lp.session == pane.session
            && lp.window_name == pane.window
            && !super::pending::unmet(project, graph, &managed, address).is_empty()
        {
            plan.waiting.push(address.clone());
            continue;
        }
        let change = match managed.get(address) {
            None => Some(Change::Create),
            Some(lp) if lp.session != pane.session || lp.window_name != pane.window => Some(Change::Move {
                tmux_id: lp.pane_id.clone(),
                from_window: format!("{}:{}", lp.session, lp.window_name),
            }),
            Some(lp) => {
                let reason = if opts.recreate {
                    Some("--recreate".to_string())
                } else if lp.hash == super::pending::PENDING {
                    Some("its dependencies hold: start it".to_string())
                } else if lp.hash != spec::hash(pane) {
                    Some("spec changed".to_string())
                } else if lp.state == "stopped" {
                    Some("stopped".to_string())
                } else if lp.dead {
                    let status = lp.exit_status.unwrap_or(-1);
                    let done = status == 0 && matches!(pane.restart, Restart::No | Restart::OnFailure);
                    (!done).then(|| format!("exited with status {status}"))
                } else {
                    None
                };
                reason.map(|reason| Change::Recreate { tmux_id: lp.pane_id.clone(), reason })
            }
        };
        match change {
            Some(c) => {
                changed.push(address.clone());
                let reason = (c == Change::Create && opts.collected.contains(address))
                    .then(|| "rerun job: it completed and GC removed its pane".to_string());
                plan.steps.push(Step { address: address.clone(), change: c, reason });
            }
            None => plan.unchanged.push(address.clone()),
        }
    }

    if opts.cascade && !changed.is_empty() {
        let dependents = graph.with_dependents(&changed);
        for address in order.iter().filter(|a| dependents.contains(*a) && !changed.contains(a) && targeted(a)) {
            if let Some(lp) = managed.get(address) {
                plan.unchanged.retain(|u| u != address);
                plan.steps.push(Step {
                    address: address.clone(),
                    change: Change::Recreate {
                        tmux_id: lp.pane_id.clone(),
                        reason: "dependency recreated (--cascade)".into(),
                    },
                    reason: None,
                });
            }
        }
        let pos = |a: &str| order.iter().position(|o| o == a).unwrap_or(usize::MAX);
        plan.steps.sort_by_key(|s| if matches!(s.change, Change::Remove { .. }) { 0 } else { pos(&s.address) + 1 });
    }
    plan
}
