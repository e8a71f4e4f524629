//! `pane exec T -- CMD [--wait]`: type a command into a pane's shell; with `--wait`, return its
//! exit status and exactly its output, without polling.
//!
//! The typed line brackets the command with two markers and ends with `tmux wait-for -S CHANNEL`;
//! ctmux blocks in `tmux wait-for CHANNEL` (tmux wakes it; a signal sent before the wait starts is
//! kept), while `pipe-pane` copies everything the pane prints to a file. The markers are typed as
//! octal escapes (`\103TMUX-…`) so the shell's echo of the typed line never looks like them.

use std::time::Duration;

use serde::Serialize;

use super::target::Server;
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;
use crate::tmux::command::sh_quote;
use crate::tmux::{Cmd, LivePane};

/// SPEC §6: `{"exit_status","output","timed_out"}`.
#[derive(Debug, Serialize)]
pub struct ExecDoc {
    /// The command's exit status (null on timeout).
    pub exit_status: Option<i32>,
    /// What the command printed.
    pub output: String,
    /// The wait ran out of time.
    pub timed_out: bool,
}

/// Runs `pane exec`.
pub async fn run(
    ctx: &Ctx,
    server: &Server,
    lp: &LivePane,
    command: &str,
    wait: bool,
    timeout: Option<Duration>,
    kill_on_timeout: bool,
) -> Result {
    if lp.dead {
        return Err(Error::failed(
            format!("{} has exited; exec needs a running shell", lp.pane_id),
            Some("`ctmux pane new SESSION` makes a pane with a shell".into()),
        ));
    }
    wait_for_prompt(server, lp).await;
    if !wait {
        let cmds = [
            Cmd::new("send-keys").args(["-t", &lp.pane_id, "-l", &format!(" {command}")]),
            Cmd::new("send-keys").args(["-t", &lp.pane_id, "Enter"]),
        ];
        server.tmux.run(&cmds).await.map_err(|e| e.into_error("typing the command"))?;
        if ctx.json() {
            ctx.print_json(&serde_json::json!({ "ok": true, "tmux_id": lp.pane_id }));
        }
        return Ok(Exit::Ok);
    }
    let id = format!("{}-{}", std::process::id(), crate::reconcile::build::now_nanos());
    let dir = crate::state::subdir("exec")
        .map_err(|e| Error::failed(format!("cannot create the state directory: {e}"), None))?;
    let file = dir.join(format!("{id}.out"));
    let channel = format!("ctmux-exec-{id}");
    let line = format!(
        " printf '\\103TMUX-BEGIN-{id}\\n'; {command}; ctmux_rc=$?; printf '\\103TMUX-END-{id} %s\\n' \"$ctmux_rc\"; tmux wait-for -S {channel}"
    );
    let start = [
        Cmd::new("pipe-pane").args([
            "-t",
            &lp.pane_id,
            &crate::tmux::command::literal(&format!("exec cat >> {}", sh_quote(&file.to_string_lossy()))),
        ]),
        Cmd::new("send-keys").args(["-t", &lp.pane_id, "-l", &line]),
        Cmd::new("send-keys").args(["-t", &lp.pane_id, "Enter"]),
    ];
    server.tmux.run(&start).await.map_err(|e| e.into_error("starting the command"))?;
    let mut waiter = tokio::process::Command::new(server.tmux.binary());
    waiter.args(server.tmux.socket.flags()).args(["wait-for", &channel]).kill_on_drop(true);
    if server.tmux.socket != crate::tmux::Socket::Default {
        waiter.env_remove("TMUX");
    }
    let mut child = waiter.spawn().map_err(|e| Error::failed(format!("cannot run tmux wait-for: {e}"), None))?;
    let finished = match timeout {
        Some(t) => tokio::time::timeout(t, child.wait()).await.is_ok(),
        None => child.wait().await.is_ok(),
    };
    if !finished {
        let _ = child.kill().await;
        if kill_on_timeout && let Some(group) = crate::process::foreground_group(lp.pid) {
            crate::process::signal_group(group, "SIGINT");
        }
    }
    let _ = server.tmux.run(&[Cmd::new("pipe-pane").args(["-t", &lp.pane_id])]).await;
    let raw = std::fs::read(&file).unwrap_or_default();
    let _ = std::fs::remove_file(&file);
    let (output, exit_status) = extract(&String::from_utf8_lossy(&raw), &id);
    let doc = ExecDoc { exit_status: if finished { exit_status } else { None }, output, timed_out: !finished };
    if ctx.json() {
        ctx.print_json(&doc);
        // One JSON document: the timeout is in it, and in the exit code.
        return Ok(if doc.timed_out {
            Exit::Timeout
        } else if doc.exit_status == Some(0) {
            Exit::Ok
        } else {
            Exit::Failed
        });
    }
    print!("{}", doc.output);
    if doc.timed_out {
        let secs = timeout.map_or(String::new(), crate::units::format_duration);
        return Err(Error::Timeout {
            message: format!("`{command}` in {} did not finish within {secs}", lp.pane_id),
            hint: Some(if kill_on_timeout {
                "it was interrupted (SIGINT)".into()
            } else {
                "it is still running; --kill-on-timeout interrupts it".into()
            }),
        });
    }
    Ok(if doc.exit_status == Some(0) { Exit::Ok } else { Exit::Failed })
}

/// A shell that has not printed anything yet is still starting, and keys typed now can be lost
/// when it sets up its line editor: wait (pushed output, up to 3 s) for its first output.
async fn wait_for_prompt(server: &Server, lp: &LivePane) {
    let empty =
        super::pane::capture(server, &lp.pane_id, None, false).await.map(|t| t.trim().is_empty()).unwrap_or(false);
    if !empty {
        return;
    }
    let Ok(mut control) = crate::tmux::control::Control::attach(&server.tmux, &lp.session_id) else { return };
    let first = async {
        let mut attached = false;
        loop {
            match control.next().await {
                crate::tmux::control::Event::Reply(_) if !attached => {
                    attached = true;
                    // Output may have arrived before we attached.
                    let now = super::pane::capture(server, &lp.pane_id, None, false).await;
                    if now.map(|t| !t.trim().is_empty()).unwrap_or(true) {
                        return;
                    }
                }
                crate::tmux::control::Event::Output(id, _) if id == lp.pane_id => return,
                crate::tmux::control::Event::Exit => return,
                _ => {}
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), first).await;
    control.close().await;
}

/// The text between the markers (CR and ANSI escapes removed) and the status after the end one.
fn extract(raw: &str, id: &str) -> (String, Option<i32>) {
    let clean = crate::ansi::strip(&raw.replace('\r', ""));
    let begin = format!("CTMUX-BEGIN-{id}\n");
    let end = format!("CTMUX-END-{id} ");
    let body = clean.split_once(&begin).map_or("", |(_, rest)| rest);
    match body.split_once(&end) {
        Some((out, tail)) => (out.to_string(), tail.split_whitespace().next().and_then(|s| s.parse().ok())),
        None => (body.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::extract;

    #[test]
    fn output_is_what_lies_between_the_markers() {
        let raw =
            "$  printf '\\103TMUX-BEGIN-7\\n'; ls\r\nCTMUX-BEGIN-7\r\na\r\n\x1b[31mb\x1b[0m\r\nCTMUX-END-7 2\r\n$ ";
        assert_eq!(extract(raw, "7"), ("a\nb\n".to_string(), Some(2)));
    }
}
