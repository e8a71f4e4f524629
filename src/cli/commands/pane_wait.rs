//! `pane wait T --match RE | --exit`: event-driven waits.
//!
//! `--match` attaches a control-mode client to the pane's session and reads the pane's `%output`
//! as tmux pushes it. Output that arrived between the call and the attach is read back from the
//! pane's history, from the line the cursor was on at our first look (or from the start of the
//! scrollback with `--since-start`); for a managed pane the daemon's log (a time on every line)
//! also gives the lines that came between the call itself and that first look. `--exit` waits
//! for the process's pidfd, then for tmux to reap it ([`crate::tmux::Tmux::reaped`]: global
//! `pane-died`/`pane-exited` hooks that match this pane and process signal a `wait-for` channel).

use std::time::Duration;

use regex::Regex;
use serde::Serialize;

use super::pane::capture;
use super::target::Server;
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;
use crate::tmux::control::{Control, Event};
use crate::tmux::{Cmd, LivePane};

/// `pane wait`'s document (docs/cli.md): `{"matched","exit_status","timed_out"}`.
#[derive(Debug, Serialize)]
pub struct WaitDoc {
    /// The matching line (`--match`).
    pub matched: Option<String>,
    /// The exit status (`--exit`).
    pub exit_status: Option<i32>,
    /// The wait ran out of time.
    pub timed_out: bool,
}

/// Runs `pane wait`.
pub async fn run(
    ctx: &Ctx,
    server: &Server,
    lp: &LivePane,
    pattern: Option<Regex>,
    timeout: Option<Duration>,
    since_start: bool,
) -> Result {
    let waited = match &pattern {
        Some(re) => wait_match(server, lp, re, since_start, timeout, ctx.called_ms).await?,
        None => wait_exit(server, lp, timeout).await?,
    };
    let doc = match waited {
        Some(Waited::Line(l)) => WaitDoc { matched: Some(l), exit_status: None, timed_out: false },
        Some(Waited::Exit(s)) => WaitDoc { matched: None, exit_status: s, timed_out: false },
        None => WaitDoc { matched: None, exit_status: None, timed_out: true },
    };
    if doc.timed_out {
        record_timeout(server, lp, pattern.as_ref(), timeout);
    }
    if ctx.json() {
        ctx.print_json(&doc);
        return Ok(if doc.timed_out { Exit::Timeout } else { Exit::Ok });
    }
    if let Some(l) = &doc.matched {
        println!("{l}");
    } else if let Some(s) = doc.exit_status {
        println!("exited with status {s}");
    }
    if doc.timed_out {
        return Err(Error::Timeout {
            message: format!(
                "{}: nothing to wait for arrived within {}",
                lp.pane_id,
                timeout.map_or(String::new(), crate::units::format_duration)
            ),
            hint: None,
        });
    }
    Ok(Exit::Ok)
}

/// Records that a wait timed out (`wait.timeout`): through the daemon, which also runs the
/// subscriptions on it, or straight into the store when no daemon runs.
fn record_timeout(server: &Server, lp: &LivePane, pattern: Option<&Regex>, timeout: Option<Duration>) {
    let data = serde_json::json!({
        "tmux_id": lp.pane_id,
        "waited_for": if pattern.is_some() { "match" } else { "exit" },
        "match": pattern.map(Regex::as_str),
        "timeout_ms": timeout.map(|t| t.as_millis() as u64),
    });
    let address = if lp.address.is_empty() { format!("{}/{}", lp.session, lp.pane_id) } else { lp.address.clone() };
    let request = crate::daemon::protocol::Request::Record {
        kind: "wait.timeout".into(),
        project: lp.project.clone(),
        address: address.clone(),
        data: data.clone(),
    };
    if !matches!(crate::daemon::client::request(&server.tmux.socket, request), Ok(Some(_)))
        && let Ok(store) = crate::store::Store::open()
    {
        let _ = store.record(&server.tmux.socket.key(), "wait.timeout", &lp.project, &address, data);
    }
}

enum Waited {
    Line(String),
    Exit(Option<i32>),
}

/// A line as a reading shows it (terminal rendering, no exec wrapper: an empty line then).
fn clean(line: &[u8]) -> String {
    let shown = crate::terminal::render(&String::from_utf8_lossy(line));
    crate::exec_marks::strip_exec_wrapper(&shown).map(std::borrow::Cow::into_owned).unwrap_or_default()
}

async fn wait_match(
    server: &Server,
    lp: &LivePane,
    re: &Regex,
    since_start: bool,
    timeout: Option<Duration>,
    called_ms: u64,
) -> Result<Option<Waited>> {
    let id = lp.pane_id.clone();
    // Where the cursor line was when we first looked (the target lookup), in absolute lines.
    let at_call = (!since_start).then_some(lp.cursor_line);
    let work = async {
        let mut control = Control::attach_ready(&server.tmux, &lp.session_id)
            .await
            .map_err(|e| Error::failed(format!("cannot attach a control client: {e}"), None))?;
        let history =
            server.tmux.run(&[Cmd::query("display-message").args(["-p", "-t", &id, "#{history_size}"])]).await.ok();
        let start = match (at_call, history.as_deref().and_then(|h| h.trim().parse::<i64>().ok())) {
            (Some(a), Some(h)) => Some((a - h).to_string()),
            _ => Some("-".to_string()),
        };
        let before = capture(server, &id, start, false).await?;
        let logged = if since_start { Vec::new() } else { logged_since(&server.tmux.socket, lp, called_ms) };
        if let Some(l) = logged.into_iter().chain(before.lines().map(str::to_string)).find(|l| re.is_match(l)) {
            control.close().await;
            return Ok(Some(Waited::Line(l)));
        }
        let mut partial: Vec<u8> = Vec::new();
        loop {
            match control.next().await {
                Event::Output(pane, bytes) if pane == id => {
                    partial.extend_from_slice(&bytes);
                    while let Some(nl) = partial.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = partial.drain(..=nl).collect();
                        let text = clean(&line);
                        if re.is_match(&text) {
                            control.close().await;
                            return Ok(Some(Waited::Line(text)));
                        }
                    }
                    let text = clean(&partial);
                    if !text.is_empty() && re.is_match(&text) {
                        control.close().await;
                        return Ok(Some(Waited::Line(text)));
                    }
                }
                Event::Exit => {
                    return Err(Error::TmuxUnavailable {
                        message: "the tmux server went away while waiting".into(),
                        hint: None,
                    });
                }
                _ => {}
            }
        }
    };
    match timeout {
        Some(t) => tokio::time::timeout(t, work).await.unwrap_or(Ok(None)),
        None => work.await,
    }
}

/// Lines managed pane `lp` logged since `ms` (its sink's log; none without one).
fn logged_since(socket: &crate::tmux::Socket, lp: &LivePane, ms: u64) -> Vec<String> {
    if lp.project.is_empty() || lp.address.is_empty() {
        return Vec::new();
    }
    let Ok(path) = crate::daemon::paths::pane_log(socket, &lp.project, &lp.address) else { return Vec::new() };
    crate::daemon::logfile::recent(&path, ms).iter().map(|l| clean(&l.raw)).collect()
}

async fn wait_exit(server: &Server, lp: &LivePane, timeout: Option<Duration>) -> Result<Option<Waited>> {
    if lp.dead {
        return Ok(Some(Waited::Exit(lp.exit_status)));
    }
    // The kernel tells us when the process exits (pidfd); then tmux's pane-died hook tells us
    // it has its status (tmux 3.3a can miss the SIGCHLD: see `Tmux::reaped`). Without a pidfd
    // the hook alone is waited for.
    let work = async {
        if let Ok(exit) = crate::process::exit_of(lp.pid) {
            exit.await;
        }
        server.tmux.reaped(&lp.pane_id, lp.pid, timeout).await.map_err(|e| server.error(e, "waiting for the exit"))
    };
    let pane = match timeout {
        Some(t) => match tokio::time::timeout(t, work).await {
            Ok(pane) => pane?,
            Err(_) => return Ok(None),
        },
        None => work.await?,
    };
    Ok(match pane {
        Some(p) if p.pid == lp.pid && !p.dead => None,
        Some(p) if p.pid == lp.pid => Some(Waited::Exit(p.exit_status)),
        _ => Some(Waited::Exit(None)),
    })
}
