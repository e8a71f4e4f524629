//! Carrying out a rule's action. Matched text reaches `run` commands only through environment
//! variables (`CTMUX_MATCH`, `CTMUX_MATCH_<NAME>`), never spliced into shell text.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::Msg;
use super::state::PaneState;
use crate::manifest::model::Action;
use crate::tmux::{Cmd, Tmux};

/// Starts `action` for `pane` (asynchronously; the loop goes on).
pub(super) fn act(
    tmux: Arc<Tmux>,
    pane: &PaneState,
    action: &Action,
    line: &str,
    groups: &[(String, String)],
    tx: mpsc::UnboundedSender<Msg>,
) {
    let (id, pid, project, address) = (pane.pane_id.clone(), pane.pid, pane.project.clone(), pane.address.clone());
    let spec = pane.spec.clone();
    let action = action.clone();
    let line = line.to_string();
    let groups = groups.to_vec();
    tokio::spawn(async move {
        match action {
            Action::Event => {}
            Action::Run(cmd) => {
                let shell = spec.as_ref().map_or("/bin/sh".to_string(), |p| p.shell.clone());
                let mut c = tokio::process::Command::new(shell);
                c.arg("-c")
                    .arg(&cmd)
                    .env("CTMUX_MATCH", &line)
                    .env("CTMUX_PANE", &address)
                    .env("CTMUX_PROJECT", &project);
                for (name, value) in &groups {
                    c.env(format!("CTMUX_MATCH_{}", name.to_ascii_uppercase()), value);
                }
                if let Some(p) = &spec {
                    c.current_dir(&p.cwd).envs(p.env.iter());
                }
                c.stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null());
                if let Ok(mut child) = c.spawn() {
                    let _ = child.wait().await;
                }
            }
            Action::SendKeys(keys) => {
                let _ = tmux.run(&[Cmd::new("send-keys").args(["-t", &id]).args(keys.split_whitespace())]).await;
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
