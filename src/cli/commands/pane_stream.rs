//! `pane stream` / `pane tail [-f]`: a pane's output as it arrives, no line lost or repeated.
//!
//! A control-mode client attached to the pane's session gets every byte the pane prints, in
//! order. To join the backlog to the live stream without a gap or a repeat, the backlog is
//! captured *through that same client*: tmux runs the capture between two points of the output
//! stream, so what came before its reply is in the capture and what comes after is new. The line
//! the cursor is on is carried over as the start of the next streamed line.

use std::io::Write;
use std::time::Duration;

use regex::Regex;
use serde::Serialize;

use super::target::Server;
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;
use crate::tmux::LivePane;
use crate::tmux::control::{Control, Event};

/// One JSON Lines record of `stream`/`tail --json`.
#[derive(Serialize)]
struct LineDoc<'a> {
    schema_version: u32,
    tmux_id: &'a str,
    line: &'a str,
}

struct Printer<'a> {
    ctx: &'a Ctx,
    id: &'a str,
    grep: Option<&'a Regex>,
    out: std::io::StdoutLock<'static>,
}

impl Printer<'_> {
    /// Prints one line as a terminal shows it (`\r`, backspace, escapes: [`crate::terminal`]),
    /// without `pane exec`'s wrapper; `false` when stdout is closed.
    fn line(&mut self, raw: &[u8]) -> bool {
        let shown = crate::terminal::render(&String::from_utf8_lossy(raw));
        let Some(text) = crate::exec_marks::strip_exec_wrapper(&shown) else { return true };
        if self.grep.is_some_and(|g| !g.is_match(&text)) {
            return true;
        }
        let written = if self.ctx.json() {
            let doc = LineDoc { schema_version: 1, tmux_id: self.id, line: &text };
            writeln!(self.out, "{}", serde_json::to_string(&doc).unwrap_or_default())
        } else {
            writeln!(self.out, "{text}")
        };
        // A closed stdout (`| head`) ends the stream quietly.
        written.and_then(|_| self.out.flush()).is_ok()
    }
}

/// Runs `pane stream` (backlog 0, follow) and `pane tail` (backlog n, follow or not).
pub async fn run(
    ctx: &Ctx,
    server: &Server,
    lp: &LivePane,
    backlog: usize,
    follow: bool,
    grep: Option<Regex>,
    timeout: Option<Duration>,
) -> Result {
    let mut printer = Printer { ctx, id: &lp.pane_id, grep: grep.as_ref(), out: std::io::stdout().lock() };
    let mut control = Control::attach_ready(&server.tmux, &lp.session_id)
        .await
        .map_err(|e| Error::failed(format!("cannot attach a control client: {e}"), None))?;
    let id = lp.pane_id.as_str();
    let history = if backlog > 0 { format!(" -S -{backlog}") } else { String::new() };
    let sync =
        format!("display-message -p -t {id} '#{{cursor_y}} #{{history_size}}' ; capture-pane -p -t {id}{history}");
    control.send(&[&sync]).await.map_err(|e| Error::failed(format!("control client: {e}"), None))?;
    // Output that arrives before the replies is part of the capture.
    let mut replies = Vec::new();
    while replies.len() < 2 {
        match control.next().await {
            Event::Reply(body) => replies.push(body),
            Event::Exit => {
                return Err(Error::TmuxUnavailable { message: "the tmux server went away".into(), hint: None });
            }
            Event::Output(..) | Event::Changed | Event::SessionChanged(_) => {}
        }
    }
    let position = String::from_utf8_lossy(&replies[0]).to_string();
    let mut nums = position.split_whitespace().map(|n| n.parse::<usize>().unwrap_or(0));
    let (cursor_y, history_size) = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
    let rows: Vec<&[u8]> = replies[1].split(|b| *b == b'\n').collect();
    let cursor_row = backlog.min(history_size) + cursor_y;
    let mut complete: Vec<&[u8]> = rows[..cursor_row.min(rows.len())].to_vec();
    // A dead pane's last row is tmux's "Pane is dead" line, written below a gap of blank rows
    // that no process printed: the backlog is what the process printed, then that line.
    let dead_line =
        if lp.dead { rows.iter().rev().find(|r| r.starts_with(b"Pane is dead")).map(|r| r.to_vec()) } else { None };
    if dead_line.is_some() {
        complete = rows.iter().copied().take_while(|r| !r.starts_with(b"Pane is dead")).collect();
    }
    // Blank rows at the end are the screen's unused rows, not output.
    while complete.last().is_some_and(|r| r.trim_ascii().is_empty()) {
        complete.pop();
    }
    if let Some(line) = &dead_line {
        complete.push(line);
    }
    // tmux wraps long rows; a typed exec wrapper must be seen whole to be hidden.
    // Rows that are only exec's markers do not count toward the N asked for.
    let complete: Vec<String> = crate::exec_marks::join_wrapped_wrapper(
        complete.iter().map(|r| String::from_utf8_lossy(r).into_owned()).collect(),
    )
    .into_iter()
    .filter(|r| crate::exec_marks::strip_exec_wrapper(r).is_some())
    .collect();
    for row in &complete[complete.len().saturating_sub(backlog)..] {
        if !printer.line(row.as_bytes()) {
            control.close().await;
            return Ok(Exit::Ok);
        }
    }
    if !follow {
        control.close().await;
        return Ok(Exit::Ok);
    }
    let mut partial: Vec<u8> = rows.get(cursor_row).map(|r| r.to_vec()).unwrap_or_default();
    let exited = crate::process::exit_of(lp.pid).ok();
    let stream = async {
        let mut exited = exited.map(Box::pin);
        loop {
            tokio::select! {
                event = control.next() => match event {
                    Event::Output(pane, bytes) if pane == id => {
                        partial.extend_from_slice(&bytes);
                        while let Some(nl) = partial.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = partial.drain(..=nl).collect();
                            if !printer.line(&line) {
                                return;
                            }
                        }
                    }
                    Event::Exit => return,
                    _ => {}
                },
                _ = async { match exited.as_mut() { Some(f) => f.await, None => std::future::pending().await } } => {
                    // The process is gone; once tmux has read the rest of its output, a command
                    // sent now is answered after the last of it.
                    let _ = server.tmux.reaped(id, lp.pid, Some(Duration::from_secs(2))).await;
                    let _ = control.send(&["display-message", "-p", "end"]).await;
                    loop {
                        match control.next().await {
                            Event::Output(pane, bytes) if pane == id => partial.extend_from_slice(&bytes),
                            Event::Output(..) | Event::Changed | Event::SessionChanged(_) => {}
                            Event::Reply(_) | Event::Exit => break,
                        }
                    }
                    for line in partial.split_inclusive(|b| *b == b'\n') {
                        let text = String::from_utf8_lossy(line);
                        if !text.trim().is_empty() && !text.starts_with("Pane is dead") && !printer.line(line) {
                            return;
                        }
                    }
                    return;
                }
            }
        }
    };
    match timeout {
        Some(t) => {
            let _ = tokio::time::timeout(t, stream).await;
        }
        None => stream.await,
    }
    control.close().await;
    Ok(Exit::Ok)
}
