//! The daemon's GC timer: a pass every minute, or sooner when something is due sooner, over the
//! projects the daemon was given ([`crate::gc`] decides; this only schedules and acts).

use std::time::Duration;

use crate::gc::{self, Action, Kind};
use crate::manifest::model::Project;
use crate::tmux::Tmux;

/// The longest time between two passes.
pub const EVERY: Duration = Duration::from_secs(60);

/// How soon a due removal that did not happen is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// Whether `project` asks GC to remove anything (TTLs, orphan removal, log limits).
pub fn wanted(project: &Project) -> bool {
    let g = &project.gc;
    g.exited.is_some()
        || g.idle.is_some()
        || g.orphans == crate::manifest::model::Orphans::Remove
        || g.logs_max_age.is_some()
        || g.logs_max_size.is_some()
        || project.sessions.values().any(|s| s.gc.exited.is_some() || s.gc.idle.is_some())
        || project.panes().any(|p| p.gc.exited.is_some())
}

/// Runs one pass on the server behind `tmux`: removes what is due. Returns the removals and how
/// long to wait before the next pass; `None` when no project asks for GC (an idle daemon keeps
/// no timer: a newly loaded manifest starts one).
pub async fn pass(tmux: &Tmux, projects: &[Project]) -> (Vec<Action>, Option<Duration>) {
    let projects: Vec<Project> = projects.iter().filter(|p| wanted(p)).cloned().collect();
    if projects.is_empty() {
        return (Vec::new(), None);
    }
    let projects = projects.as_slice();
    let server = tmux.socket.key();
    let now = crate::reconcile::build::now_secs();
    let Ok(world) = gc::observe::observe(tmux, &server, projects, now).await else {
        return (Vec::new(), Some(EVERY));
    };
    let all = gc::outlook(now, &world, projects);
    // To the millisecond: from whole seconds the wake-up came up to a second after the due
    // second had begun, and a pass then found nothing due for another second.
    let now_ms = crate::store::now_ms().max(0) as u64;
    let next = all
        .iter()
        .filter(|a| a.kind != Kind::Report && a.due > now)
        .map(|a| Duration::from_millis((a.due * 1000).saturating_sub(now_ms)))
        .min()
        .unwrap_or(EVERY)
        .clamp(Duration::from_millis(10), EVERY);
    let due: Vec<Action> = all.into_iter().filter(|a| a.due <= now && a.kind != Kind::Report).collect();
    if due.is_empty() {
        return (Vec::new(), Some(next));
    }
    let planned = due.len();
    let removed: Vec<Action> = match gc::apply::apply(tmux, &server, projects, due, now).await {
        Ok(outcomes) => outcomes.into_iter().filter(|o| o.result == "removed").map(|o| o.action).collect(),
        Err(_) => Vec::new(),
    };
    // A removal that was due and did not happen (its facts changed between the two looks, a
    // client came and went) is tried again in a second, not at the next minute: `gc status`
    // said "due now" for 50 s.
    let next = if removed.len() < planned { next.min(RETRY) } else { next };
    (removed, Some(next))
}
