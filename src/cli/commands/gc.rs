//! `ctmux gc [--dry-run]` runs garbage collection now (or prints its plan); `ctmux gc status`
//! says what is due when. The decisions are [`crate::gc::plan`]'s; see docs/manifest.md.

use serde::Serialize;

use super::stack::{Stack, runtime};
use crate::cli::args::GcArgs;
use crate::cli::{Ctx, Result};
use crate::exit::Exit;
use crate::gc::{self, Action, Kind, apply::Outcome};
use crate::reconcile::lock;

#[derive(Serialize)]
struct Doc<'a> {
    project: &'a str,
    dry_run: bool,
    actions: Vec<Outcome>,
}

#[derive(Serialize)]
struct StatusDoc<'a> {
    project: &'a str,
    now: u64,
    actions: &'a [Action],
}

/// Runs `gc`, `gc --dry-run` or `gc status`.
pub fn run(ctx: &Ctx, args: &GcArgs) -> Result {
    let stack = Stack::open(ctx)?;
    // A running daemon plans from the version read here too (it also follows the file).
    let _ = super::up::hand_to_daemon(&stack, false);
    let project = stack.project().clone();
    let server = stack.tmux.socket.key();
    let rt = runtime()?;
    let now = crate::reconcile::build::now_secs();
    let manifests = std::slice::from_ref(&project);
    let world = rt
        .block_on(gc::observe::observe(&stack.tmux, &server, manifests, now))
        .map_err(|e| e.into_error("reading tmux state"))?;
    if args.status() {
        let mut all = gc::outlook(now, &world, manifests);
        all.sort_by_key(|a| a.due);
        if ctx.json() {
            ctx.print_json(&StatusDoc { project: &project.name, now, actions: &all });
        } else if all.is_empty() {
            ctx.say(format!("{}: nothing to collect, now or later (see `gc:` in the manifest)", project.name));
        } else {
            for a in &all {
                let when = if a.due <= now {
                    "due now".to_string()
                } else {
                    format!("due in {}", crate::units::format_duration(std::time::Duration::from_secs(a.due - now)))
                };
                ctx.say(format!("{when:<14} {}", line(a)));
            }
        }
        return Ok(Exit::Ok);
    }
    let planned = gc::plan(now, &world, manifests);
    let outcomes: Vec<Outcome> = if args.dry_run {
        planned
            .into_iter()
            .map(|action| Outcome {
                result: if action.kind == Kind::Report { "reported" } else { "planned" },
                action,
                note: None,
            })
            .collect()
    } else {
        let _lock = lock::acquire(&server, &project.name, "ctmux gc", ctx.notice())?;
        let outcomes = rt
            .block_on(gc::apply::apply(&stack.tmux, &server, manifests, planned, now))
            .map_err(|e| e.into_error("collecting garbage"))?;
        for o in outcomes.iter().filter(|o| o.result == "removed") {
            record(&stack, &o.action);
        }
        outcomes
    };
    if ctx.json() {
        ctx.print_json(&Doc { project: &project.name, dry_run: args.dry_run, actions: outcomes });
    } else if outcomes.is_empty() {
        ctx.say(format!("{}: nothing to collect", project.name));
    } else {
        for o in &outcomes {
            let note = o.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            ctx.say(format!("{:<9} {}{note}", o.result, line(&o.action)));
        }
    }
    Ok(Exit::Ok)
}

/// One line about an action: what, which object, why.
fn line(a: &Action) -> String {
    let what = match a.kind {
        Kind::RemovePane => format!("remove pane {} ({})", a.address, a.pane),
        Kind::RemoveSession => format!("remove session {} ({})", a.session, a.session_id),
        Kind::RemoveLog => {
            format!("remove log {}", a.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default())
        }
        Kind::Report => {
            let name = if a.address.is_empty() { a.pane.clone() } else { format!("{} ({})", a.address, a.pane) };
            format!("report {name}")
        }
    };
    format!("{what}: {}", a.reason)
}

/// Records a removal as a `gc.collected` event: through the daemon (which also runs the
/// subscriptions on it), or straight into the store when no daemon runs.
pub fn record(stack: &Stack, a: &Action) {
    let data = gc::event_data(a);
    let request = crate::daemon::protocol::Request::Record {
        kind: "gc.collected".into(),
        project: a.project.clone(),
        address: a.address.clone(),
        data: data.clone(),
    };
    if !matches!(crate::daemon::client::request(&stack.tmux.socket, request), Ok(Some(_)))
        && let Ok(store) = crate::store::Store::open()
    {
        let _ = store.record(&stack.tmux.socket.key(), "gc.collected", &a.project, &a.address, data);
    }
}
