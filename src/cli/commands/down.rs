//! `ctmux down` and `ctmux stop`: stop panes in reverse dependency order, whole process trees,
//! then (for `down`) remove the panes and the sessions they leave empty. Only this project's
//! panes (by `@ctmux-project`) are touched.

use std::collections::BTreeMap;

use serde::Serialize;

use super::stack::{Stack, runtime};
use crate::cli::args::{DownArgs, TargetArgs};
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;
use crate::manifest::model::Stop;
use crate::reconcile::lock;
use crate::reconcile::stop::{Stopped, Target};
use crate::tmux::{Cmd, LivePane};

#[derive(Serialize)]
struct DownDoc<'a> {
    project: &'a str,
    stopped: &'a [Stopped],
}

/// A project locked against concurrent `up`/`down`, with what tmux holds of it.
struct Locked {
    stack: Stack,
    _lock: lock::Lock,
    rt: tokio::runtime::Runtime,
    live: crate::tmux::Live,
    managed: BTreeMap<String, LivePane>,
}

impl Locked {
    fn open(ctx: &Ctx) -> Result<Locked> {
        let stack = Stack::open(ctx)?;
        let _lock = lock::acquire(&stack.tmux.socket.key(), &stack.project().name, "ctmux down", ctx.notice())?;
        let rt = runtime()?;
        let live = rt.block_on(stack.tmux.live()).map_err(|e| e.into_error("reading tmux state"))?;
        let managed = live.managed(&stack.project().name).into_iter().map(|(a, p)| (a, p.clone())).collect();
        Ok(Locked { stack, _lock, rt, live, managed })
    }
}

/// Stops `addresses` (live panes of the project) in reverse dependency order: each pane as soon
/// as every pane that depends on it has stopped, all others at once. (Stopping wave by wave made
/// an unrelated pane wait for the slowest stop of the wave before it: a process that ignores
/// SIGTERM held the rest of the stack for its whole `stop.timeout`.)
async fn stop_in_order(
    stack: &Stack,
    live: &BTreeMap<String, LivePane>,
    addresses: &[String],
    ctx: &Ctx,
) -> Vec<Stopped> {
    let project = stack.project();
    let server = stack.tmux.server_mark().await;
    let mut targets = Vec::new();
    // For each pane, the panes being stopped that depend on it (panes no longer in the manifest
    // have no dependencies).
    let mut waits_for: Vec<Vec<String>> = Vec::new();
    for address in addresses {
        let Some(lp) = live.get(address) else {
            continue;
        };
        let pane = project.pane(address).cloned();
        let mut stop = pane.as_ref().map_or_else(Stop::default, |p| p.stop.clone());
        let mut pid = lp.pid;
        if lp.dead {
            // The pane's process is gone (its pid may be someone else's by now), but what it
            // left running in the background still carries the pane's mark: signalled, then
            // SIGKILLed, and reported if it survives.
            pid = 0;
            stop.command = None;
        }
        let dependents: Vec<String> = if pane.is_some() {
            stack
                .graph
                .with_dependents(std::slice::from_ref(address))
                .into_iter()
                .filter(|d| d != address && addresses.contains(d) && live.contains_key(d))
                .collect()
        } else {
            Vec::new()
        };
        waits_for.push(dependents);
        targets.push(Target { address: address.clone(), pid, stop, pane });
    }
    let mut started = vec![false; targets.len()];
    let mut stopped: Vec<String> = Vec::new();
    let mut done: Vec<(usize, bool)> = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    loop {
        let ready: Vec<usize> =
            (0..targets.len()).filter(|&i| !started[i] && waits_for[i].iter().all(|d| stopped.contains(d))).collect();
        if !ready.is_empty() {
            // One read of /proc for every pane that may start now, taken now: a pane's tree is
            // what it runs when its turn comes.
            let table = crate::reconcile::stop::read_table().await;
            for i in ready {
                started[i] = true;
                let stop = crate::reconcile::stop::graceful(&table, &server, &project.name, targets[i].clone());
                set.spawn(async move { (i, stop.await) });
            }
        }
        let Some(joined) = set.join_next().await else { break };
        let Ok((i, killed)) = joined else { continue };
        if !ctx.json() && !ctx.global.quiet {
            eprintln!(
                "■ stopped {}{}",
                targets[i].address,
                if killed { " (killed after the stop timeout)" } else { "" }
            );
        }
        stopped.push(targets[i].address.clone());
        done.push((i, killed));
    }
    crate::reconcile::stop::finish(&server, &project.name, &targets, &done).await
}

/// Stops what a killed tmux server on this socket left running of the project (a pane's
/// `nohup` child outlives its server), for `up` and `down`; `only` limits it to those panes.
/// Says what it stopped on stderr.
pub fn stop_leftovers(ctx: &Ctx, stack: &Stack, rt: &tokio::runtime::Runtime, only: Option<&[String]>) -> Vec<Stopped> {
    let mut found = rt.block_on(crate::reconcile::stop::sweep_leftovers(&stack.tmux, stack.project()));
    if let Some(only) = only {
        found.retain(|s| only.contains(&s.address));
    }
    if !ctx.json() && !ctx.global.quiet {
        for s in &found {
            eprintln!(
                "■ stopped {} (left running by a tmux server that is gone){}",
                s.address,
                if s.killed { " (killed after the stop timeout)" } else { "" }
            );
        }
    }
    found
}

/// "1 pane stopped: app/worker", "3 panes stopped: a/x, a/y, a/z" (the first 8 named), for the
/// one line `down` and `stop` print: what was stopped, in stop order.
fn stopped_summary(stopped: &[Stopped]) -> String {
    const NAMED: usize = 8;
    if stopped.is_empty() {
        return "nothing was running".into();
    }
    let noun = if stopped.len() == 1 { "pane" } else { "panes" };
    let mut names: Vec<&str> = stopped.iter().take(NAMED).map(|s| s.address.as_str()).collect();
    let more = stopped.len().saturating_sub(NAMED);
    let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
    names.dedup();
    format!("{} {noun} stopped: {}{tail}", stopped.len(), names.join(", "))
}

fn survivors_error(stopped: &[Stopped]) -> Option<Error> {
    let left: Vec<String> = stopped
        .iter()
        .filter(|s| !s.survivors.is_empty())
        .map(|s| format!("{}: pids {:?}", s.address, s.survivors))
        .collect();
    (!left.is_empty()).then(|| Error::failed("some processes survived SIGKILL", Some(left.join("\n"))))
}

/// Runs `down`.
pub fn run_down(ctx: &Ctx, args: &DownArgs) -> Result {
    let Locked { stack, _lock, rt, live, managed } = Locked::open(ctx)?;
    let addresses: Vec<String> = if args.targets.is_empty() {
        managed.keys().cloned().collect()
    } else {
        let chosen = stack.addresses(&args.targets)?;
        // Whatever depends on a stopped pane goes down first, as in compose.
        stack.graph.with_dependents(&chosen).into_iter().filter(|a| managed.contains_key(a)).collect()
    };
    // A whole-project `down` runs `hooks.before_down` first; a failure is reported (exit 1 at
    // the end) but does not keep the stack up: `down` must always be able to clean up.
    let whole = args.targets.is_empty();
    let mut hook_errors = Vec::new();
    if whole {
        let before = crate::hooks::Phase::BeforeDown;
        hook_errors
            .extend(crate::hooks::run(stack.project(), &stack.tmux.socket, before, !ctx.global.quiet, &[]).err());
    }
    // Marked first, so the daemon does not restart what is being taken down.
    let marks: Vec<Cmd> = addresses
        .iter()
        .filter_map(|a| managed.get(a))
        .map(|lp| Cmd::new("set-option").args(["-p", "-t", &lp.pane_id, "@ctmux-state", "stopped"]))
        .collect();
    let _ = rt.block_on(stack.tmux.run(&marks));
    let mut stopped = rt.block_on(stop_in_order(&stack, &managed, &addresses, ctx));
    let only = (!args.targets.is_empty()).then(|| stack.addresses(&args.targets)).transpose()?;
    stopped.extend(stop_leftovers(ctx, &stack, &rt, only.as_deref()));
    // A control client left by a killed daemon keeps a server alive with no sessions after
    // the last one is killed: gone first.
    rt.block_on(crate::tmux::control::detach_orphans(&stack.tmux));
    // Remove panes; a session left with only our panes goes as a whole.
    let mut cmds = Vec::new();
    let mut sessions: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for p in &live.panes {
        let e = sessions.entry(&p.session).or_default();
        e.0 += 1;
        if p.project == stack.project().name && addresses.contains(&p.address) {
            e.1 += 1;
        }
    }
    for (session, (all, ours)) in &sessions {
        if *ours > 0 && all == ours {
            cmds.push(Cmd::new("kill-session").opt("-t", format!("={session}")));
        }
    }
    for a in &addresses {
        if let Some(lp) = managed.get(a)
            && sessions.get(lp.session.as_str()).is_some_and(|(all, ours)| all != ours)
        {
            cmds.push(Cmd::new("kill-pane").opt("-t", lp.pane_id.clone()));
        }
    }
    match rt.block_on(stack.tmux.run(&cmds)) {
        Ok(_) | Err(crate::tmux::TmuxError::NoServer) => {}
        Err(e) => return Err(e.into_error("removing panes")),
    }
    if args.targets.is_empty() && !stack.project().ports.is_empty() {
        // The whole project is down: its `ports: {NAME: auto}` are free for others again.
        if let Ok(store) = crate::store::Store::open() {
            let _ = store.release_ports(&stack.tmux.socket.key(), &stack.project().name);
        }
    }
    if whole {
        let after = crate::hooks::Phase::AfterDown;
        hook_errors.extend(crate::hooks::run(stack.project(), &stack.tmux.socket, after, !ctx.global.quiet, &[]).err());
    }
    stack.report_traffic(ctx);
    hook_errors.extend(survivors_error(&stopped));
    if let Some(last) = hook_errors.pop() {
        // Everything is down; what failed (a hook, a survivor) is what the exit status reports.
        for e in &hook_errors {
            crate::cli::output::print_error(ctx, e);
        }
        return Err(last);
    }
    if ctx.json() {
        ctx.print_json(&DownDoc { project: &stack.project().name, stopped: &stopped });
    } else if stopped.is_empty() && args.targets.is_empty() {
        ctx.say(format!("{} is not running", stack.project().name));
    } else if args.targets.is_empty() {
        ctx.say(format!("✔ {} is down: {}", stack.project().name, stopped_summary(&stopped)));
    } else {
        // Only part of the project went down: say what, not "the project is down".
        ctx.say(format!("✔ {}", stopped_summary(&stopped)));
    }
    survivors_error(&stopped).map_or(Ok(Exit::Ok), Err)
}

/// Runs `stop`: stops targets but keeps their panes (state `stopped`).
pub fn run_stop(ctx: &Ctx, args: &TargetArgs) -> Result {
    let Locked { stack, _lock, rt, live: _, managed } = Locked::open(ctx)?;
    let addresses: Vec<String> =
        stack.addresses(&args.targets)?.into_iter().filter(|a| managed.contains_key(a)).collect();
    // Marked first, so the daemon does not restart what the user stopped.
    let cmds: Vec<Cmd> = addresses
        .iter()
        .filter_map(|a| managed.get(a))
        .map(|lp| Cmd::new("set-option").args(["-p", "-t", &lp.pane_id, "@ctmux-state", "stopped"]))
        .collect();
    rt.block_on(stack.tmux.run(&cmds)).map_err(|e| e.into_error("marking panes stopped"))?;
    let stopped = rt.block_on(stop_in_order(&stack, &managed, &addresses, ctx));
    stack.report_traffic(ctx);
    if ctx.json() {
        ctx.print_json(&DownDoc { project: &stack.project().name, stopped: &stopped });
    } else {
        ctx.say(format!("✔ {}", stopped_summary(&stopped)));
    }
    survivors_error(&stopped).map_or(Ok(Exit::Ok), Err)
}

/// Runs `restart`: stops each target's process tree, then respawns it in place with its spec.
pub fn run_restart(ctx: &Ctx, args: &TargetArgs) -> Result {
    let Locked { stack, _lock, rt, live: _, managed } = Locked::open(ctx)?;
    let addresses = stack.addresses(&args.targets)?;
    let missing: Vec<&String> = addresses.iter().filter(|a| !managed.contains_key(*a)).collect();
    if !missing.is_empty() {
        return Err(Error::NotFound {
            message: format!("not running: {}", missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
            hint: Some("`ctmux up` creates missing panes".into()),
        });
    }
    let stopped = rt.block_on(stop_in_order(&stack, &managed, &addresses, ctx));
    let mut cmds = Vec::new();
    for a in &addresses {
        if let (Some(pane), Some(lp)) = (stack.project().pane(a), managed.get(a)) {
            cmds.extend(crate::reconcile::build::respawn(stack.project(), pane, &lp.pane_id));
        }
    }
    rt.block_on(stack.tmux.run(&cmds)).map_err(|e| e.into_error("restarting panes"))?;
    super::up::hand_to_daemon(&stack, false)?;
    stack.report_traffic(ctx);
    if ctx.json() {
        ctx.print_json(&DownDoc { project: &stack.project().name, stopped: &stopped });
    } else {
        ctx.say(format!("✔ restarted {}", addresses.join(", ")));
    }
    survivors_error(&stopped).map_or(Ok(Exit::Ok), Err)
}
