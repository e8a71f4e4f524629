//! Carrying out a rule's action. Matched text reaches `run` commands only through environment
//! variables (`CTMUX_MATCH`, `CTMUX_MATCH_<NAME>`), never spliced into shell text.
//!
//! `run` actions are bounded ([`Runner`]): at most [`RULE_RUNNING`] shells per rule and
//! [`DAEMON_RUNNING`] per daemon at once, up to [`RULE_QUEUED`] more per rule wait their turn,
//! and beyond that a match's action is dropped and counted (`rule.dropped`). A matched line too
//! long for the environment goes to the command in a file, its variable cut and flagged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc};

use super::Msg;
use super::state::PaneState;
use crate::manifest::model::Action;
use crate::tmux::{Cmd, Tmux};

/// `run` shells one rule (of one pane) may have running at once.
pub const RULE_RUNNING: usize = 4;
/// `run` shells the daemon may have running at once, over all rules.
pub const DAEMON_RUNNING: usize = 16;
/// Matches of one rule waiting for a shell; more are dropped.
pub const RULE_QUEUED: usize = 64;
/// The longest matched text (and group) passed in the environment (bytes); a longer one is cut
/// there, with `CTMUX_MATCH_TRUNCATED=1` and the whole line in the file `CTMUX_MATCH_FILE`
/// (Linux refuses one variable over 128 KiB: the action failed with E2BIG).
pub const ENV_MATCH_MAX: usize = 64 * 1024;

/// The bounds on `run` actions, shared by the daemon's tasks.
pub(super) struct Runner {
    daemon: Arc<Semaphore>,
    rules: Mutex<HashMap<(String, String), Arc<Slot>>>,
}

/// One rule's share: its running shells, and how many matches hold or wait for one.
struct Slot {
    running: Semaphore,
    pending: AtomicUsize,
}

impl Runner {
    /// Bounds as documented on [`RULE_RUNNING`], [`DAEMON_RUNNING`], [`RULE_QUEUED`].
    pub(super) fn new() -> Runner {
        Runner { daemon: Arc::new(Semaphore::new(DAEMON_RUNNING)), rules: Mutex::new(HashMap::new()) }
    }

    /// The slot of `rule` of pane `id`, or `None` when its queue is full (the match is dropped).
    fn admit(&self, id: &str, rule: &str) -> Option<Arc<Slot>> {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let slot = rules
            .entry((id.to_string(), rule.to_string()))
            .or_insert_with(|| Arc::new(Slot { running: Semaphore::new(RULE_RUNNING), pending: AtomicUsize::new(0) }))
            .clone();
        if slot.pending.fetch_add(1, Ordering::SeqCst) >= RULE_RUNNING + RULE_QUEUED {
            slot.pending.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(slot)
    }
}

/// Cuts `text` to at most `max` bytes at a character boundary; whether it cut.
pub(super) fn cut(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// A file holding a matched line too long for the environment, removed when dropped.
struct MatchFile(std::path::PathBuf);

impl MatchFile {
    fn write(line: &str) -> Option<MatchFile> {
        use std::io::Write;
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = crate::state::subdir("actions").ok()?;
        let path = dir.join(format!("{}-{}.match", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
        let mut f = crate::fs_safe::create_new(&path).ok()?;
        f.write_all(line.as_bytes()).ok()?;
        Some(MatchFile(path))
    }
}

impl Drop for MatchFile {
    fn drop(&mut self) {
        let _ = crate::fs_safe::remove(&self.0);
    }
}

/// Starts `action` for `pane` (asynchronously; the loop goes on). A `run` past its bounds is
/// not started: [`Msg::RuleDropped`] tells the loop.
#[allow(clippy::too_many_arguments)]
pub(super) fn act(
    tmux: Arc<Tmux>,
    runner: &Arc<Runner>,
    pane: &PaneState,
    rule: &str,
    action: &Action,
    line: &str,
    groups: &[(String, String)],
    tx: mpsc::UnboundedSender<Msg>,
) {
    let slot = match action {
        // Two rules with one pattern are two rules: keyed by their command too.
        Action::Run(cmd) => match runner.admit(&pane.pane_id, &format!("{rule}\0{cmd}")) {
            Some(slot) => Some(slot),
            None => {
                let _ = tx.send(Msg::RuleDropped(pane.pane_id.clone(), rule.to_string()));
                return;
            }
        },
        _ => None,
    };
    let daemon = runner.daemon.clone();
    let (id, pid, project, address) = (pane.pane_id.clone(), pane.pid, pane.project.clone(), pane.address.clone());
    let spec = pane.spec.clone();
    let action = action.clone();
    let line = line.to_string();
    let groups = groups.to_vec();
    tokio::spawn(async move {
        match action {
            Action::Event => {}
            Action::Run(cmd) => {
                let Some(slot) = slot else { return };
                // Waiting in the rule's queue, then for a daemon-wide turn.
                let rule_turn = slot.running.acquire().await;
                let daemon_turn = daemon.acquire().await;
                let shell = spec.as_ref().map_or("/bin/sh".to_string(), |p| p.shell.clone());
                let mut c = tokio::process::Command::new(shell);
                let (text, mut truncated) = cut(&line, ENV_MATCH_MAX);
                c.arg("-c")
                    .arg(&cmd)
                    .env("CTMUX_MATCH", text)
                    .env("CTMUX_PANE", &address)
                    .env("CTMUX_PROJECT", &project);
                for (name, value) in &groups {
                    let (value, cut_group) = cut(value, ENV_MATCH_MAX);
                    truncated |= cut_group;
                    c.env(format!("CTMUX_MATCH_{}", name.to_ascii_uppercase()), value);
                }
                let file = if truncated { MatchFile::write(&line) } else { None };
                if let Some(f) = &file {
                    c.env("CTMUX_MATCH_TRUNCATED", "1").env("CTMUX_MATCH_FILE", &f.0);
                }
                if let Some(p) = &spec {
                    c.current_dir(&p.cwd).envs(p.env.iter());
                }
                c.stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null());
                match c.spawn() {
                    Ok(mut child) => {
                        let _ = child.wait().await;
                    }
                    Err(e) => eprintln!("ctmux daemon: rule action for {address} did not start: {e}"),
                }
                drop((file, daemon_turn, rule_turn));
                slot.pending.fetch_sub(1, Ordering::SeqCst);
            }
            Action::SendKeys(keys) => {
                let _ = tmux.run(&[Cmd::new("send-keys").args(["-t", &id, "--"]).args(keys.split_whitespace())]).await;
            }
            Action::Signal(sig) => {
                let group = crate::process::foreground_group(pid).unwrap_or(pid);
                crate::process::signal_group(group, &sig);
            }
            Action::Restart | Action::Kill => {
                let stop = crate::manifest::model::Stop {
                    signal: "SIGKILL".into(),
                    timeout: std::time::Duration::ZERO,
                    command: None,
                };
                let graceful = spec.as_ref().map(|p| p.stop.clone()).unwrap_or_default();
                let how = if matches!(action, Action::Kill) { &stop } else { &graceful };
                let server = tmux.server_mark().await;
                crate::reconcile::stop::stop_tree(&server, &project, &address, pid, how, spec.as_ref()).await;
                if matches!(action, Action::Restart) {
                    // Respawn as soon as the exit is seen, whatever the policy says.
                    let _ = tx.send(Msg::RestartRequested(id, pid));
                }
            }
            Action::Stop => {
                let _ = tmux.run(&[Cmd::new("set-option").args(["-p", "-t", &id, "@ctmux-state", "stopped"])]).await;
                let stop = spec.as_ref().map(|p| p.stop.clone()).unwrap_or_default();
                let server = tmux.server_mark().await;
                crate::reconcile::stop::stop_tree(&server, &project, &address, pid, &stop, spec.as_ref()).await;
            }
        }
    });
}
