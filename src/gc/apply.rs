//! Carrying out a GC plan, checking every hard rule a second time right before each action.
//!
//! First tmux is read again and the plan made again: an action whose object changed since it
//! was planned (another pid, no longer dead, a client attached, `keep` added…) is not in the new
//! plan with the same facts and is aborted. Then each removal goes to tmux behind a guard tmux
//! evaluates itself in the same command (`if-shell -F`): the pane is still dead with the same
//! pid, or the session still has exactly the panes (ids, pids, dead or not) seen just before,
//! and exactly the clients counted at that look (ctmux's own control clients), so a person
//! attaching or a pane starting in between stops it.

use serde::Serialize;

use super::{Action, Kind, World, observe, plan};
use crate::manifest::model::Project;
use crate::tmux::{Cmd, Tmux, TmuxError};

/// What happened to one planned action.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The action as planned.
    #[serde(flatten)]
    pub action: Action,
    /// `removed`, `reported`, or `aborted`.
    pub result: &'static str,
    /// Why it was aborted, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Carries out `planned` (made from an earlier look) on the server behind `tmux`.
pub async fn apply(
    tmux: &Tmux,
    server: &str,
    manifests: &[Project],
    planned: Vec<Action>,
    now: u64,
) -> Result<Vec<Outcome>, TmuxError> {
    let again = observe::observe(tmux, server, manifests, now).await?;
    let fresh = plan(now, &again, manifests);
    let mut out = Vec::new();
    for action in planned {
        if action.kind == Kind::Report {
            out.push(Outcome { action, result: "reported", note: None });
            continue;
        }
        if !fresh.iter().any(|f| same(f, &action)) {
            out.push(Outcome { action, result: "aborted", note: Some("changed since it was planned".into()) });
            continue;
        }
        let result = match action.kind {
            Kind::RemovePane => remove_pane(tmux, &again, &action).await,
            Kind::RemoveSession => remove_session(tmux, &again, &action).await,
            Kind::RemoveLog => remove_log(&action),
            Kind::Report => unreachable!("handled above"),
        };
        out.push(match result {
            Ok(()) => Outcome { action, result: "removed", note: None },
            Err(why) => Outcome { action, result: "aborted", note: Some(why) },
        });
    }
    Ok(out)
}

/// The same decision about the same object, resting on the same facts.
fn same(a: &Action, b: &Action) -> bool {
    a.kind == b.kind && a.session_id == b.session_id && a.pane == b.pane && a.path == b.path && a.guard == b.guard
}

fn clients(world: &World, session_id: &str) -> u32 {
    world.sessions.iter().find(|s| s.id == session_id).map_or(0, |s| s.clients)
}

async fn remove_pane(tmux: &Tmux, world: &World, a: &Action) -> Result<(), String> {
    let pid = a.guard.first().map_or(0, |g| g.1);
    let guard = format!(
        "#{{&&:#{{pane_dead}},#{{&&:#{{==:#{{pane_pid}},{pid}}},#{{==:#{{session_attached}},{}}}}}}}",
        clients(world, &a.session_id)
    );
    guarded(tmux, &a.pane, &guard, &format!("kill-pane -t {}", a.pane)).await?;
    let ids = tmux.run(&[Cmd::query("list-panes").args(["-a", "-F", "#{pane_id}"])]).await.unwrap_or_default();
    if ids.lines().any(|l| l == a.pane) {
        return Err("tmux's own check refused it (the pane changed or a client attached)".into());
    }
    Ok(())
}

/// Every pane of a session as `%ID:PID:DEAD `, windows and panes in tmux's order.
const FINGERPRINT: &str = "#{W:#{P:#{pane_id}:#{pane_pid}:#{pane_dead} }}";

async fn remove_session(tmux: &Tmux, world: &World, a: &Action) -> Result<(), String> {
    // The session's panes as tmux has them now: exactly the planned ones, same processes.
    let look = Cmd::query("display-message").args(["-p", "-t", &a.session_id, FINGERPRINT]);
    let fingerprint = tmux.run(&[look]).await.map_err(|e| e.to_string())?;
    let fingerprint = fingerprint.trim_end_matches('\n');
    let mut seen: Vec<(String, u32)> = fingerprint
        .split_whitespace()
        .filter_map(|p| {
            let mut f = p.split(':');
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect();
    let mut planned = a.guard.clone();
    seen.sort();
    planned.sort();
    if seen != planned {
        return Err("its panes changed since it was planned".into());
    }
    // tmux removes it only if that is still so, and no client came.
    let guard = format!(
        "#{{&&:#{{==:#{{session_attached}},{}}},#{{==:{FINGERPRINT},{fingerprint}}}}}",
        clients(world, &a.session_id)
    );
    guarded(tmux, &a.session_id, &guard, &format!("kill-session -t {}", a.session_id)).await?;
    let ids = tmux.run(&[Cmd::query("list-sessions").args(["-F", "#{session_id}"])]).await.unwrap_or_default();
    if ids.lines().any(|l| l == a.session_id) {
        return Err("tmux's own check refused it (a client attached or a pane changed)".into());
    }
    Ok(())
}

async fn guarded(tmux: &Tmux, target: &str, guard: &str, command: &str) -> Result<(), String> {
    let cmd = Cmd::new("if-shell").args(["-F", "-t", target, guard, command]);
    match tmux.run(&[cmd]).await {
        Ok(_) => Ok(()),
        Err(TmuxError::Failed { message }) if message.contains("can't find") => Err("it is gone already".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn remove_log(a: &Action) -> Result<(), String> {
    let path = a.path.as_ref().ok_or("no path")?;
    // Beneath the state dir only, no symlink followed ([`crate::fs_safe`]).
    crate::fs_safe::remove(path).map_err(|e| format!("cannot remove {}: {e}", path.display()))
}
