//! Respawning panes without taking the tmux 3.3a server down.
//!
//! tmux keeps one input buffer per pane, shared by the pane's own parser and every control-mode
//! client, each with an offset into it; it drains the buffer only as far as the slowest control
//! client has read. `respawn-pane` (with or without `-k`, also on a dead `remain-on-exit` pane)
//! replaces the buffer with an empty one but keeps every offset. When a control client attached
//! to the pane's session has not yet been sent all of the old process's output — output printed
//! just before the process died is never sent (tmux discards it) and so pins the offsets for
//! good — the next read of the new process's output computes a negative length, and the server
//! dies in `input_parse` with every session in it (tmux issue #5499, fixed upstream after 3.6a).
//! With no control client on the session at the moment of the respawn, tmux's end-of-loop check
//! drains the stale length from the new, empty buffer before anything is read, and all is well.
//!
//! So every batch that contains `respawn-pane` goes through [`run`]. For each control client
//! attached to a respawned pane's session (the daemon's, `pane stream`'s, anyone's) the batch
//! pauses the pane's output to that client first (`refresh-client -A %ID:pause`: its queued
//! output of the pane is discarded and its offset no longer counts) and continues it right after
//! the respawn (`%ID:continue`: the offset is set to the pane's own), all in one command list, so
//! no pane output is read in between and tmux drains the stale length before the new process's
//! first byte. The client sees `%pause`/`%continue`; nothing of the new process is lost. The
//! batch runs behind a guard that aborts it, inside tmux and before anything in it runs, if the
//! clients attached to one of those sessions changed since we listed them (the guard compares
//! `#{session_attached_list}`; a failing `set-option -o` skips the rest of the command list);
//! then we look again and retry.
//!
//! Clients are never detached: a control client that attaches while tmux 3.3a emits some
//! notifications (between its first identify message and its last) crashes the server too (a
//! NULL `control_state`), so attaching less is safer than re-attaching after every restart.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::command::{self, Cmd};
use super::{Tmux, TmuxError};

/// The pane option the guard sets when the attached clients changed; `set-option -o` then fails.
const GUARD: &str = "@ctmux-respawn-guard";

/// How long to keep retrying when clients keep coming and going.
const RETRY_LIMIT: Duration = Duration::from_secs(5);

/// Room the guards and pauses take in a call.
const EXTRA_BYTES: usize = 4_000;

/// Whether `cmds` respawns a pane (and must go through [`run`]).
pub fn respawns(cmds: &[Cmd]) -> bool {
    cmds.iter().any(|c| c.args.first().is_some_and(|n| n == "respawn-pane"))
}

/// Runs a batch that respawns panes so that no control client is behind on them (see the
/// module doc). Returns the batch's stdout.
pub async fn run(tmux: &Tmux, cmds: &[Cmd]) -> Result<String, TmuxError> {
    let targets: Vec<String> = cmds.iter().filter_map(respawn_target).collect();
    let mut out = String::new();
    let mut rest = cmds;
    let start = Instant::now();
    while !rest.is_empty() {
        let facts = look(tmux, &targets).await?;
        let mut done = 0;
        let mut raced = false;
        for call in command::split_calls_within(rest, command::MAX_CALL_BYTES - EXTRA_BYTES) {
            match tmux.run_call(&wrap(call, &facts)).await {
                Ok(text) => {
                    out.push_str(&text);
                    done += call.len();
                }
                Err(TmuxError::Failed { message }) if message.contains(GUARD) => {
                    raced = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        rest = &rest[done..];
        if raced && start.elapsed() > RETRY_LIMIT {
            return Err(TmuxError::Failed {
                message: "clients keep attaching to the session of a pane being respawned; respawning now could \
                          crash tmux (see docs/architecture.md)"
                    .into(),
            });
        }
    }
    Ok(out)
}

/// The pane a `respawn-pane` command targets.
fn respawn_target(cmd: &Cmd) -> Option<String> {
    if cmd.args.first()? != "respawn-pane" {
        return None;
    }
    let at = cmd.args.iter().position(|a| a == "-t")?;
    cmd.args.get(at + 1).cloned()
}

/// A respawned pane's session as we saw it.
#[derive(Debug, Default, Clone, PartialEq)]
struct Session {
    /// A pane of the session the guard evaluates its format in (the first respawned one).
    pane: String,
    /// Every client attached, in tmux's order (`#{session_attached_list}`).
    attached: Vec<String>,
    /// The control clients among them.
    control: Vec<String>,
}

/// What [`look`] saw.
#[derive(Debug, Default, PartialEq)]
struct Facts {
    /// By respawn target, its session.
    sessions: BTreeMap<String, Session>,
    /// Targets that never drew anything (no history, cursor at the origin): a process that
    /// printed nothing gave no control client anything to be behind on, and pausing would give
    /// every control client an entry for the pane, whose flow control can then hold back the
    /// first read of a new process long enough for tmux 3.3a to drop what it printed as it exits.
    pristine: BTreeSet<String>,
}

/// Reads, by respawn target, its session's clients. A target that does not exist (yet) is left
/// out: the batch itself reports it, or creates its session in the same batch (no client yet).
async fn look(tmux: &Tmux, targets: &[String]) -> Result<Facts, TmuxError> {
    let mut cmds =
        vec![Cmd::query("list-clients").args(["-F", "#{client_name}\x1f#{client_control_mode}\x1f#{session_id}"])];
    for t in targets {
        // The format names no literal `%`: display-message runs strftime on its message.
        cmds.push(Cmd::query("display-message").args([
            "-p",
            "-t",
            t.as_str(),
            "\x1e#{pane_id}\x1f#{session_id}\x1f#{history_size}:#{cursor_x}:#{cursor_y}",
        ]));
    }
    let text = match tmux.run_call(&cmds).await {
        Ok(text) => text,
        Err(TmuxError::Failed { .. }) if !targets.is_empty() => {
            // One of the targets is gone: look at the others one by one.
            let mut facts = Facts::default();
            for t in targets {
                if let Ok(one) = Box::pin(look(tmux, std::slice::from_ref(t))).await {
                    facts.sessions.extend(one.sessions);
                    facts.pristine.extend(one.pristine);
                }
            }
            return Ok(facts);
        }
        Err(e) => return Err(e),
    };
    Ok(parse_look(&text, targets))
}

/// Parses [`look`]'s output.
fn parse_look(text: &str, targets: &[String]) -> Facts {
    let mut clients: Vec<(String, bool, String)> = Vec::new();
    let mut panes: Vec<(String, String)> = Vec::new();
    let mut pristine = BTreeSet::new();
    let mut named = targets.iter();
    for line in text.lines() {
        let f: Vec<&str> = line.trim_start_matches('\x1e').split('\x1f').collect();
        if line.starts_with('\x1e') && f.len() == 3 {
            if let Some(target) = named.next() {
                panes.push((target.clone(), f[1].to_string()));
                if f[2] == "0:0:0" {
                    pristine.insert(target.clone());
                }
            }
        } else if !line.starts_with('\x1e') && f.len() == 3 {
            clients.push((f[0].to_string(), f[1] == "1", f[2].to_string()));
        }
    }
    let mut by_session: BTreeMap<String, Session> = BTreeMap::new();
    let mut facts = BTreeMap::new();
    for (target, session) in panes {
        let entry = by_session.entry(session.clone()).or_insert_with(|| {
            let here: Vec<&(String, bool, String)> = clients.iter().filter(|(_, _, s)| *s == session).collect();
            Session {
                pane: target.clone(),
                attached: here.iter().map(|(n, _, _)| n.clone()).collect(),
                control: here.iter().filter(|(_, c, _)| *c).map(|(n, _, _)| n.clone()).collect(),
            }
        });
        facts.insert(target, entry.clone());
    }
    Facts { sessions: facts, pristine }
}

/// `call` wrapped: guards for its respawns' sessions, then each respawn preceded by pausing the
/// pane for every control client of its session and followed (after the commands stuck to it)
/// by continuing it.
fn wrap(call: &[Cmd], facts: &Facts) -> Vec<Cmd> {
    let mut cmds = Vec::new();
    let mut guarded = BTreeSet::new();
    for target in call.iter().filter_map(respawn_target) {
        let Some(session) = facts.sessions.get(&target) else { continue };
        if !guarded.insert(session.pane.clone()) {
            continue;
        }
        let pane = session.pane.as_str();
        let changed = format!("#{{!=:#{{session_attached_list}},{}}}", session.attached.join(","));
        cmds.push(Cmd::new("set-option").args(["-p", "-u", "-t", pane, GUARD]));
        cmds.push(Cmd::new("if-shell").args([
            "-F",
            "-t",
            pane,
            &changed,
            &format!("set-option -p -t '{pane}' {GUARD} 1"),
        ]));
        cmds.push(Cmd::new("set-option").args(["-p", "-o", "-t", pane, GUARD, "1"]));
        cmds.push(Cmd::new("set-option").args(["-p", "-u", "-t", pane, GUARD]));
    }
    let offsets = |target: &str, how: &str| -> Vec<Cmd> {
        if facts.pristine.contains(target) {
            return Vec::new();
        }
        facts.sessions.get(target).map_or(Vec::new(), |s| {
            s.control
                .iter()
                .map(|c| Cmd::new("refresh-client").args(["-t", c.as_str(), "-A", &format!("{target}:{how}")]))
                .collect()
        })
    };
    let mut continues: Vec<Cmd> = Vec::new();
    for cmd in call {
        if !cmd.sticky {
            cmds.append(&mut continues);
        }
        if let Some(target) = respawn_target(cmd) {
            cmds.extend(offsets(&target, "pause"));
            continues = offsets(&target, "continue");
        }
        cmds.push(cmd.clone());
    }
    cmds.append(&mut continues);
    cmds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_respawns_when_it_holds_respawn_pane() {
        assert!(respawns(&[Cmd::new("set-option"), Cmd::new("respawn-pane").args(["-k", "-t", "%3"])]));
        assert!(!respawns(&[Cmd::new("split-window").args(["-t", "%3"])]));
        assert_eq!(respawn_target(&Cmd::new("respawn-pane").args(["-k", "-t", "%12", "sh"])), Some("%12".into()));
    }

    #[test]
    fn each_respawn_is_paused_for_the_control_clients_and_continued_after_its_options() {
        let facts = parse_look(
            "/dev/pts/3\x1f0\x1f$1\nclient-77\x1f1\x1f$1\nclient-78\x1f1\x1f$2\n\x1e%12\x1f$1\x1f0:4:1\n",
            &["%12".to_string()],
        );
        assert!(facts.pristine.is_empty());
        assert_eq!(
            facts.sessions["%12"],
            Session {
                pane: "%12".into(),
                attached: vec!["/dev/pts/3".into(), "client-77".into()],
                control: vec!["client-77".into()]
            }
        );
        let call = [
            Cmd::new("respawn-pane").args(["-k", "-t", "%12"]),
            Cmd::new("set-option").args(["-p", "-t", "%12", "@ctmux-hash", "x"]).sticky(),
            Cmd::new("split-window"),
        ];
        let names: Vec<String> = wrap(&call, &facts).iter().map(|c| c.args.join(" ")).collect();
        assert_eq!(
            names,
            [
                "set-option -p -u -t %12 @ctmux-respawn-guard",
                "if-shell -F -t %12 #{!=:#{session_attached_list},/dev/pts/3,client-77} set-option -p -t '%12' @ctmux-respawn-guard 1",
                "set-option -p -o -t %12 @ctmux-respawn-guard 1",
                "set-option -p -u -t %12 @ctmux-respawn-guard",
                "refresh-client -t client-77 -A %12:pause",
                "respawn-pane -k -t %12",
                "set-option -p -t %12 @ctmux-hash x",
                "refresh-client -t client-77 -A %12:continue",
                "split-window",
            ]
        );
        // A pane that never drew anything is not paused (the guard stays).
        let fresh = parse_look("client-77\x1f1\x1f$1\n\x1e%12\x1f$1\x1f0:0:0\n", &["%12".to_string()]);
        assert!(fresh.pristine.contains("%12"));
        let names: Vec<String> = wrap(&call[..1], &fresh).iter().map(|c| c.args[0].clone()).collect();
        assert_eq!(names, ["set-option", "if-shell", "set-option", "set-option", "respawn-pane"]);
    }
}
