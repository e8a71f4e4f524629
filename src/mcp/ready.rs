//! "Ready for input" and conversations with interactive programs.
//!
//! A program waits for terminal input when the leader of the tty's foreground process group is
//! asleep in a read of the terminal: `read(2)` on the tty, or `select`/`poll` on it (readline,
//! Python's REPL). The kernel says which syscall a sleeping process is in (`/proc/PID/syscall`:
//! number and arguments) and which files its descriptors are (`/proc/PID/fd`). A program that
//! sleeps (`time.sleep`), computes or waits on anything else is not ready, however quiet it is.
//! REPLs print no shell-integration marks, so this is the one signal that covers them too.
//!
//! [`converse`] sends keys and reads the pane's output as tmux pushes it (a control-mode client
//! attached before the keys go out), until the program is ready again or a regex matches. Lines
//! that echo the typed input are left out of the output and never match.

use std::time::Duration;

use regex::Regex;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::tmux::Tmux;
use crate::tmux::control::{Control, Event};

/// How long the program must stay blocked on the terminal, and the pane quiet, to be ready.
const SETTLE: Duration = Duration::from_millis(100);
/// How often the process state is looked at while waiting.
const TICK: Duration = Duration::from_millis(20);

/// Syscalls that read the terminal or wait until it is readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Read,
    Select,
    Poll,
    Epoll,
}

fn classify(nr: i64) -> Option<Wait> {
    #[cfg(target_arch = "x86_64")]
    {
        match nr {
            0 | 17 | 19 => return Some(Wait::Read),
            23 | 270 => return Some(Wait::Select),
            7 | 271 => return Some(Wait::Poll),
            232 | 281 | 441 => return Some(Wait::Epoll),
            _ => {}
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        match nr {
            63 | 65 | 67 => return Some(Wait::Read),
            72 => return Some(Wait::Select),
            73 => return Some(Wait::Poll),
            22 | 441 => return Some(Wait::Epoll),
            _ => {}
        }
    }
    let _ = nr;
    None
}

/// Whether descriptor `fd` of `pid` is the terminal `tty`.
fn fd_is(pid: u32, fd: u64, tty: &str) -> bool {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).is_ok_and(|p| p.as_os_str() == tty)
}

/// A process's state letter (`S`, `R`, `T`…).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// Whether the foreground program of the terminal `tty` that `shell` (the pane's process) runs
/// on waits for terminal input; `None` when that cannot be told (the pane's process is gone).
pub fn waits_for_input(shell: u32, tty: &str) -> Option<bool> {
    let group = crate::process::foreground_group(shell)?;
    let leader = if crate::process::alive(group) {
        group
    } else {
        // The leader of a pipeline's group may be gone; its members still read.
        *crate::process::group_members(group).first()?
    };
    if state(leader)? != 'S' {
        return Some(false);
    }
    let syscall = std::fs::read_to_string(format!("/proc/{leader}/syscall")).ok();
    let Some(syscall) = syscall else {
        // No permission to read the syscall: the kernel function it sleeps in.
        let wchan = std::fs::read_to_string(format!("/proc/{leader}/wchan")).unwrap_or_default();
        return Some(wchan == "n_tty_read" && fd_is(leader, 0, tty));
    };
    let mut words = syscall.split_whitespace();
    let Some(nr) = words.next().and_then(|n| n.parse::<i64>().ok()) else { return Some(false) };
    let args: Vec<u64> =
        words.take(6).map(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).unwrap_or(0)).collect();
    let arg = |i: usize| args.get(i).copied().unwrap_or(0);
    Some(match classify(nr) {
        Some(Wait::Read) => fd_is(leader, arg(0), tty),
        // select(nfds, readfds, …): a sleep is select(0, NULL, …).
        Some(Wait::Select) => arg(0) > 0 && arg(1) != 0 && (0..arg(0).min(64)).any(|fd| fd_is(leader, fd, tty)),
        // poll(fds, nfds, …): a sleep is poll(NULL, 0, …).
        Some(Wait::Poll) => arg(1) > 0 && fd_is(leader, 0, tty),
        Some(Wait::Epoll) => fd_is(leader, 0, tty),
        None => false,
    })
}

/// The pane a conversation is with.
#[derive(Debug, Clone)]
pub struct Pane {
    /// tmux pane id (`%12`).
    pub id: String,
    /// Its session's id (`$3`), for the control client.
    pub session_id: String,
    /// The pane's own process.
    pub pid: u32,
    /// Its terminal (`/dev/pts/N`).
    pub tty: String,
    /// Where the cursor was when the pane was looked up: absolute line (history + row) and
    /// column. Output after that point is what a wait that starts now may count.
    pub cursor: (i64, usize),
}

impl Pane {
    /// Looks up pane `id` (a tmux pane id) on the server.
    pub async fn find(tmux_flags: &[String], id: &str) -> Result<Pane, Value> {
        let out = tokio::process::Command::new(std::env::var("CTMUX_TMUX").unwrap_or_else(|_| "tmux".into()))
            .args(tmux_flags)
            .args([
                "display-message",
                "-p",
                "-t",
                id,
                "#{pane_id} #{session_id} #{pane_pid} #{pane_tty} #{pane_dead} #{history_size} #{cursor_y} #{cursor_x}",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| super::error_doc("failed", format!("tmux display-message: {e}"), None))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<&str> = text.split_whitespace().collect();
        match f.as_slice() {
            [id, session, pid, tty, dead, history, row, col] if out.status.success() => {
                if *dead == "1" {
                    return Err(super::error_doc(
                        "failed",
                        format!("{id} has exited; nothing in it reads input"),
                        None,
                    ));
                }
                Ok(Pane {
                    id: id.to_string(),
                    session_id: session.to_string(),
                    pid: pid.parse().unwrap_or(0),
                    tty: tty.to_string(),
                    cursor: (
                        history.parse::<i64>().unwrap_or(0) + row.parse::<i64>().unwrap_or(0),
                        col.parse().unwrap_or(0),
                    ),
                })
            }
            _ => Err(super::error_doc(
                "not_found",
                format!("no pane {id}: {}", String::from_utf8_lossy(&out.stderr).trim()),
                None,
            )),
        }
    }
}

/// Every pane's cursor (as [`Pane::cursor`]) on the server, in one tmux call: taken when a wait
/// arrives, before its target is resolved (a ctmux process, slow under load), so output printed
/// meanwhile still counts as after the call started.
pub async fn cursors(tmux_flags: &[String]) -> std::collections::HashMap<String, (i64, usize)> {
    let out = tokio::process::Command::new(std::env::var("CTMUX_TMUX").unwrap_or_else(|_| "tmux".into()))
        .args(tmux_flags)
        .args(["list-panes", "-a", "-F", "#{pane_id} #{history_size} #{cursor_y} #{cursor_x}"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await;
    let Ok(out) = out else { return Default::default() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [id, history, row, col] = f.as_slice() else { return None };
            Some((id.to_string(), (history.parse::<i64>().ok()? + row.parse::<i64>().ok()?, col.parse().ok()?)))
        })
        .collect()
}

/// What to wait for after the keys.
pub enum Until {
    /// The foreground program waits for input again.
    Prompt,
    /// Output (echo left out) matching the regex.
    Match(Regex),
}

/// What a conversation saw.
pub struct Heard {
    /// Output since the keys, cleaned, echoed input lines left out.
    pub output: String,
    /// The line that matched.
    pub matched: Option<String>,
    /// The program waits for input (`Until::Prompt`).
    pub ready: bool,
    /// Time ran out first.
    pub timed_out: bool,
    /// How long it took.
    pub waited_ms: u64,
}

/// Output bytes as lines of text: escapes stripped, a carriage return's overwrite applied.
pub fn clean_lines(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    text.split('\n')
        .map(|l| {
            let l = l.trim_end_matches('\r');
            let l = l.rsplit('\r').next().unwrap_or(l);
            crate::ansi::strip(l)
        })
        .collect()
}

/// The lines of `lines` that are not echoes of `typed` (each typed line takes away the first
/// output line, from the previous one's on, that ends with it).
pub fn without_echo(lines: Vec<String>, typed: &[String]) -> Vec<String> {
    let mut drop = vec![false; lines.len()];
    let mut from = 0;
    for t in typed.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if let Some(i) = (from..lines.len()).find(|&i| !drop[i] && lines[i].trim_end().ends_with(t)) {
            drop[i] = true;
            from = i + 1;
        }
    }
    lines.into_iter().zip(drop).filter(|(_, d)| !d).map(|(l, _)| l).collect()
}

/// What the pane printed after `pane.cursor` (from the cursor's column on its line), read back
/// from its screen and scrollback: the output between looking the pane up and attaching.
async fn printed_since(tmux: &Tmux, pane: &Pane) -> Vec<u8> {
    let now = tokio::process::Command::new(tmux.binary())
        .args(tmux.socket.flags())
        .args(["display-message", "-p", "-t", &pane.id, "#{history_size}"])
        .stdin(std::process::Stdio::null())
        .output()
        .await;
    let Some(history) = now.ok().and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<i64>().ok()) else {
        return Vec::new();
    };
    let from = (pane.cursor.0 - history).to_string();
    let Ok(out) = tokio::process::Command::new(tmux.binary())
        .args(tmux.socket.flags())
        .args(["capture-pane", "-p", "-t", &pane.id, "-S", &from, "-E", "-"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
    else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines: Vec<&str> = text.split('\n').collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let Some(first) = lines.first_mut() else { return Vec::new() };
    let skip = first.char_indices().nth(pane.cursor.1).map_or(first.len(), |(i, _)| i);
    *first = &first[skip..];
    let joined = lines.join("\n");
    if joined.trim().is_empty() { Vec::new() } else { joined.into_bytes() }
}

/// The pane's text from absolute line `line` (history + row) to the bottom, wrapped lines
/// joined, trailing blank lines dropped: what a command typed on that line has printed so far.
pub async fn text_from_line(tmux: &Tmux, pane_id: &str, line: i64) -> Option<String> {
    let now = tokio::process::Command::new(tmux.binary())
        .args(tmux.socket.flags())
        .args(["display-message", "-p", "-t", pane_id, "#{history_size}"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    let history: i64 = String::from_utf8_lossy(&now.stdout).trim().parse().ok()?;
    let out = tokio::process::Command::new(tmux.binary())
        .args(tmux.socket.flags())
        .args(["capture-pane", "-p", "-J", "-t", pane_id, "-S", &(line - history).to_string(), "-E", "-"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    Some(text.trim_end().to_string())
}

/// Attaches to the pane's session, runs `send` (the keys), then reads the pane's output until
/// `until` holds or `timeout` passes. `typed` are the input lines whose echo is left out. With
/// `backfill` (a wait without keys), output printed between the pane's lookup and the attach is
/// read back from the screen first, so nothing printed after the call is missed.
#[allow(clippy::too_many_arguments)]
pub async fn converse<F>(
    tmux: &Tmux,
    pane: &Pane,
    send: F,
    typed: &[String],
    until: Until,
    timeout: Duration,
    backfill: bool,
    ctx: &rmcp::service::RequestContext<rmcp::RoleServer>,
) -> Result<Heard, Value>
where
    F: std::future::Future<Output = Result<(), Value>>,
{
    let mut control = Control::attach_ready(tmux, &pane.session_id)
        .await
        .map_err(|e| super::error_doc("failed", format!("following {}: {e}", pane.id), None))?;
    let started = Instant::now();
    if let Err(e) = send.await {
        control.close().await;
        return Err(e);
    }
    let sent_keys = !typed.is_empty();
    let deadline = started + timeout;
    let mut raw: Vec<u8> = if backfill { printed_since(tmux, pane).await } else { Vec::new() };
    let mut last_output = None::<Instant>;
    if let Until::Match(re) = &until
        && let Some(l) = without_echo(clean_lines(&raw), typed).into_iter().find(|l| re.is_match(l))
    {
        control.close().await;
        return Ok(Heard { output: String::new(), matched: Some(l), ready: false, timed_out: false, waited_ms: 0 });
    }
    let mut ready_since = None::<Instant>;
    let mut tick = tokio::time::interval(TICK);
    let mut heard = Heard { output: String::new(), matched: None, ready: false, timed_out: false, waited_ms: 0 };
    loop {
        tokio::select! {
            ev = control.next() => match ev {
                Event::Output(id, data) if id == pane.id => {
                    raw.extend_from_slice(&data);
                    last_output = Some(Instant::now());
                    if let Until::Match(re) = &until {
                        let lines = without_echo(clean_lines(&raw), typed);
                        if let Some(l) = lines.iter().find(|l| re.is_match(l)) {
                            heard.matched = Some(l.clone());
                            break;
                        }
                    }
                }
                Event::Exit => break,
                _ => {}
            },
            _ = tick.tick() => {
                let now = Instant::now();
                if now >= deadline {
                    heard.timed_out = true;
                    break;
                }
                if matches!(until, Until::Prompt) {
                    // Keys typed: the program must have answered (its echo) before it counts.
                    let answered = !sent_keys || last_output.is_some() || now - started > Duration::from_millis(300);
                    match waits_for_input(pane.pid, &pane.tty) {
                        Some(true) => {
                            let since = *ready_since.get_or_insert(now);
                            let quiet = last_output.is_none_or(|t| now - t >= SETTLE);
                            if answered && quiet && now - since >= SETTLE {
                                heard.ready = true;
                                break;
                            }
                        }
                        Some(false) => ready_since = None,
                        None => break,
                    }
                }
            }
            _ = ctx.ct.cancelled() => {
                control.close().await;
                return Err(super::error_doc("cancelled", "the client cancelled the call", None));
            }
        }
    }
    control.close().await;
    let mut lines = without_echo(clean_lines(&raw), typed);
    if lines.first().is_some_and(|l| l.trim().is_empty()) && lines.len() > 1 {
        lines.remove(0);
    }
    heard.output = lines.join("\n");
    heard.waited_ms = started.elapsed().as_millis() as u64;
    Ok(heard)
}

/// A wait document for `pane_wait {prompt}` / `{match}` answered by [`converse`].
pub fn wait_doc(h: &Heard) -> Value {
    json!({
        "schema_version": 1,
        "matched": h.matched,
        "exit_status": null,
        "timed_out": h.timed_out,
        "ready": h.ready,
        "waited_ms": h.waited_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_input_lines_are_left_out_once_each() {
        let raw = b">>> print(6*7)\r\n42\r\n>>> print('A2')\r\nA2\r\n>>> ";
        let typed = vec!["print(6*7)".to_string(), "print('A2')".to_string()];
        assert_eq!(without_echo(clean_lines(raw), &typed), ["42", "A2", ">>> "]);
        // Output equal to the input after its echo stays.
        let raw = b"$ echo hi\r\nhi\r\n";
        assert_eq!(without_echo(clean_lines(raw), &["echo hi".to_string()]), ["hi", ""]);
        assert_eq!(without_echo(clean_lines(b"echo hi\r\necho hi\r\n"), &["echo hi".to_string()]), ["echo hi", ""]);
        assert_eq!(clean_lines(b"50%\r100%\r\n\x1b[31mred\x1b[0m"), ["100%", "red"]);
    }

    #[test]
    fn this_process_sleeping_is_not_waiting_for_input() {
        // The test runner's own thread group: not a terminal reader (no tty, or not blocked on it).
        let me = std::process::id();
        assert_ne!(waits_for_input(me, "/dev/null-not-a-tty"), Some(true));
    }
}
