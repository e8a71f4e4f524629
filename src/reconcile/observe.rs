//! One look at the server: every pane's state plus the recent output of the panes whose
//! `ready_when` or `log` checks are pending — all in a single tmux call.

use std::collections::HashMap;

use crate::tmux::command::message_literal;
use crate::tmux::{Cmd, LivePane, Tmux, TmuxError, live};

/// Marker printed between captures so one call can return several.
const MARK: &str = "\x1fctmux-capture\x1f";

/// What one look saw.
#[derive(Debug, Default)]
pub struct Observed {
    /// Managed panes of the project by address.
    pub panes: HashMap<String, LivePane>,
    /// Captured text by tmux pane id.
    pub output: HashMap<String, String>,
}

/// Reads the project's panes and captures the output of `capture` (tmux pane ids).
pub async fn observe(tmux: &Tmux, project: &str, capture: &[String]) -> Result<Observed, TmuxError> {
    let mut cmds = vec![Cmd::query("display-message").arg("-p").arg(live::END)];
    for id in capture {
        cmds.push(Cmd::query("display-message").arg("-p").arg(message_literal(&format!("{MARK}{id}"))));
        cmds.push(Cmd::query("capture-pane").args(["-p", "-J", "-S", "-3000", "-t"]).arg(id.clone()));
    }
    // A server that vanished while we watch it is an error, not an empty server.
    let (live, rest) =
        tmux.list(&cmds).await.map_err(|e| if e == TmuxError::NoServer { TmuxError::ServerLost } else { e })?;
    let panes = live.managed(project).into_iter().map(|(a, p)| (a, p.clone())).collect();
    let mut output = HashMap::new();
    for part in rest.split(MARK).skip(1) {
        if let Some((id, body)) = part.split_once('\n') {
            output.insert(id.to_string(), body.to_string());
        }
    }
    Ok(Observed { panes, output })
}

/// The last `n` non-empty lines of captured text, for error reports.
pub fn last_lines(text: &str, n: usize) -> Vec<String> {
    // tmux's own remain-on-exit banner is not the pane's output.
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("Pane is dead (")).collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| l.to_string()).collect()
}
