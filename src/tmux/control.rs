//! A tmux control-mode client (`tmux -C attach`): output of a session's panes pushed to us as
//! `%output %ID data` lines, no polling.
//!
//! Facts (NOTES.md, tmux 3.3a): a control client receives `%output` only for panes of the session
//! it is attached to; data arrives octal-escaped for control characters and `\`, raw for bytes ≥
//! 0x80, so the stream is read as bytes. We attach with `ignore-size` (never resize users'
//! windows) and `read-only`, and keep stdin open (EOF on stdin detaches the client).

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout};

use super::Tmux;

/// One notification we care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The reply to a command, with its output lines (`%begin` … `%end`/`%error`); the first one
    /// means "attached". Notifications before it describe what happened before the command ran.
    Reply(Vec<u8>),
    /// Output from a pane: its id and the raw bytes.
    Output(String, Vec<u8>),
    /// Panes, windows or sessions came or went (`%window-add`, `%window-close`,
    /// `%layout-change`, `%sessions-changed`, …): time to read the layout again.
    Changed,
    /// The client was detached or the server exited.
    Exit,
}

/// A running control-mode client.
pub struct Control {
    child: Child,
    lines: BufReader<ChildStdout>,
    /// The line being read, kept here so [`Control::next`] is cancel-safe (a `select!` that
    /// drops it mid-line loses nothing: the next call continues the line).
    line: Vec<u8>,
    /// The reply being collected, for the same reason.
    block: Block,
}

/// Where the parser is: between blocks, or inside a command's reply.
#[derive(Default)]
struct Block(Option<Vec<u8>>);

impl Control {
    /// Attaches a control client to `session`.
    pub fn attach(tmux: &Tmux, session: &str) -> std::io::Result<Control> {
        let mut cmd = tokio::process::Command::new(tmux.binary());
        cmd.args(tmux.socket.client_flags())
            .args(["-C", "attach-session", "-t", session, "-f", "ignore-size,read-only"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env(OWNER_ENV, std::process::id().to_string())
            .kill_on_drop(true);
        // The client dies with us: killed with SIGKILL, a daemon would otherwise leave its
        // clients attached with no reader, and tmux stops reading the session's panes once a
        // client's backlog is full (their output froze for minutes).
        // SAFETY: prctl(2) and getppid(2) are async-signal-safe and touch no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before the prctl took effect.
                if libc::getppid() == 1 {
                    return Err(std::io::Error::other("parent gone"));
                }
                Ok(())
            });
        }
        if tmux.socket != super::Socket::Default {
            cmd.env_remove("TMUX");
        }
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| std::io::Error::other("no stdout"))?;
        Ok(Control { child, lines: BufReader::new(stdout), line: Vec::new(), block: Block::default() })
    }

    /// Attaches and waits until tmux confirms it: from then on the session's output is pushed.
    pub async fn attach_ready(tmux: &Tmux, session: &str) -> std::io::Result<Control> {
        let mut control = Control::attach(tmux, session)?;
        loop {
            match control.next().await {
                Event::Reply(_) => return Ok(control),
                Event::Exit => {
                    return Err(std::io::Error::other(format!("tmux refused a control client for {session}")));
                }
                Event::Output(..) | Event::Changed => {}
            }
        }
    }

    /// The next event (other notifications are skipped). Cancel-safe.
    pub async fn next(&mut self) -> Event {
        loop {
            match self.lines.read_until(b'\n', &mut self.line).await {
                Ok(0) | Err(_) => return Event::Exit,
                Ok(_) => {}
            }
            if !self.line.ends_with(b"\n") {
                // EOF in the middle of a line.
                return Event::Exit;
            }
            let mut line = std::mem::take(&mut self.line);
            line.pop();
            if let Some(body) = self.block.0.as_mut() {
                if line.starts_with(b"%end ") || line.starts_with(b"%error ") {
                    return Event::Reply(self.block.0.take().unwrap_or_default());
                }
                body.extend_from_slice(&line);
                body.push(b'\n');
                continue;
            }
            if line.starts_with(b"%begin ") {
                self.block.0 = Some(Vec::new());
                continue;
            }
            if let Some(event) = parse(&line) {
                return event;
            }
        }
    }

    /// Sends a command through the client; its reply comes back as an [`Event::Reply`] in order
    /// with the output notifications. Arguments must not need quoting (ids, numbers, flags).
    pub async fn send(&mut self, args: &[&str]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        let stdin = self.child.stdin.as_mut().ok_or_else(|| std::io::Error::other("control client closed"))?;
        stdin.write_all(format!("{}\n", args.join(" ")).as_bytes()).await?;
        stdin.flush().await
    }

    /// Detaches (closing stdin) and reaps the client.
    pub async fn close(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill().await;
    }
}

/// The flags every ctmux control client attaches with ([`Control::attach`]).
const OUR_FLAGS: [&str; 3] = ["control-mode", "ignore-size", "read-only"];

/// The environment variable that names the ctmux process a control client was started by.
const OWNER_ENV: &str = "CTMUX_CONTROL_OWNER";

/// Detaches (and kills) the control clients a ctmux process left behind, found by client flags
/// and pid (not by name): attached with ctmux's flags, and either started by a ctmux process
/// that is no longer their parent ([`OWNER_ENV`]) or adopted by init (an older ctmux's, which
/// set no owner). Returns how many. A daemon killed with SIGKILL left these before clients died
/// with it, and tmux stops reading a session whose client does not read.
pub async fn detach_orphans(tmux: &Tmux) -> usize {
    let format = "#{client_pid}\t#{client_name}\t#{client_flags}";
    let Ok(out) = tmux.run(&[super::Cmd::query("list-clients").args(["-F", format])]).await else { return 0 };
    let me = std::process::id();
    let owner = |pid: u32| -> Option<u32> {
        let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        let prefix = format!("{OWNER_ENV}=");
        let var = env.split(|b| *b == 0).find_map(|v| v.strip_prefix(prefix.as_bytes()))?;
        std::str::from_utf8(var).ok()?.parse().ok()
    };
    let mut detach = Vec::new();
    let mut pids = Vec::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [pid, name, flags] = f[..] else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        let flags: Vec<&str> = flags.split(',').collect();
        if !OUR_FLAGS.iter().all(|f| flags.contains(f)) {
            continue;
        }
        let orphan = match (crate::process::ppid(pid), owner(pid)) {
            (Some(parent), Some(owner)) => parent != owner && parent != me,
            (Some(parent), None) => parent == 1,
            (None, _) => false,
        };
        if orphan {
            detach.push(super::Cmd::new("detach-client").args(["-t", name]));
            pids.push(pid);
        }
    }
    let _ = tmux.run(&detach).await;
    for &pid in &pids {
        // A client blocked writing to a pipe nobody reads may never act on the detach.
        crate::process::signal(pid, "SIGKILL");
    }
    pids.len()
}

/// Parses one control-mode line.
pub fn parse(line: &[u8]) -> Option<Event> {
    if let Some(rest) = line.strip_prefix(b"%output ") {
        let space = rest.iter().position(|b| *b == b' ')?;
        let id = String::from_utf8_lossy(&rest[..space]).into_owned();
        return Some(Event::Output(id, unescape(&rest[space + 1..])));
    }
    if line.starts_with(b"%end ") || line.starts_with(b"%error ") {
        return Some(Event::Reply(Vec::new()));
    }
    if line.starts_with(b"%exit") {
        return Some(Event::Exit);
    }
    const CHANGES: [&[u8]; 6] = [
        b"%window-add ",
        b"%window-close ",
        b"%unlinked-window-close ",
        b"%layout-change ",
        b"%sessions-changed",
        b"%session-window-changed ",
    ];
    if CHANGES.iter().any(|c| line.starts_with(c)) {
        return Some(Event::Changed);
    }
    None
}

/// Undoes tmux's octal escaping (`\015` → CR, `\134` → `\`).
pub fn unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\\' && i + 3 < data.len() && data[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            let v = (data[i + 1] - b'0') * 64 + (data[i + 2] - b'0') * 8 + (data[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_output_with_octal_escapes_and_raw_utf8() {
        let line = "%output %3 a\\134b\\015\\012ü".as_bytes();
        assert_eq!(parse(line), Some(Event::Output("%3".into(), "a\\b\r\nü".as_bytes().to_vec())));
        assert_eq!(parse(b"%end 1 2 0"), Some(Event::Reply(Vec::new())));
        assert_eq!(parse(b"%window-renamed @0 sh"), None);
        assert_eq!(unescape(b"x\\1"), b"x\\1");
    }
}
