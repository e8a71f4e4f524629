//! `pane exec T [--wait] -- CMD…`: type a command into a pane's idle shell; with `--wait`, return
//! its exit status and exactly its output, and exit with that status (as `docker exec` does).
//!
//! Before typing, the pane's lock is taken (execs on one pane take turns), the shell is checked
//! to be idle at its prompt and the text to be complete syntax ([`super::exec_shell`]). The text
//! is delivered with `paste-buffer` (bracketed paste where the shell asks for it, so a tab or a
//! newline in it is text, not completion or Enter), wrapped in two markers and its status.
//! `--wait` reads the pane's output as tmux pushes it, through `pipe-pane` into a FIFO that is
//! unlinked as soon as both ends are open: the read ends at the end marker, and nothing is left
//! on disk even if ctmux is killed (the `cat` behind the pipe then dies on the pane's next output,
//! and tmux closes the pipe). A pane whose pipe is taken — a managed pane's is its log sink — is
//! read through a control client instead, as a shell with ctmux's hook always is.

use std::io::Read;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::exec_shell::{self, PaneLock};
use super::target::Server;
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;
use crate::tmux::command::sh_quote;
use crate::tmux::{Cmd, LivePane};

/// `{"exit_status","output","timed_out"}`: what the command did. ctmux's own failures are an
/// `{"error":…}` document instead, so a script tells them apart.
#[derive(Debug, Serialize)]
pub struct ExecDoc {
    /// The command's exit status (null on timeout).
    pub exit_status: Option<i32>,
    /// What the command printed.
    pub output: String,
    /// The wait ran out of time.
    pub timed_out: bool,
}

/// What `pane exec` was asked to do.
pub struct ExecArgs {
    /// The words after `--`.
    pub command: Vec<String>,
    /// Wait for the command and report its status and output.
    pub wait: bool,
    /// Give up waiting after this long.
    pub timeout: Option<Duration>,
    /// On timeout, SIGINT the pane's foreground process group.
    pub kill_on_timeout: bool,
    /// Type even when the pane is not an idle shell.
    pub force: bool,
}

/// Runs `pane exec`.
pub async fn run(ctx: &Ctx, server: &Server, lp: &LivePane, args: ExecArgs) -> Result {
    let started = Instant::now();
    let text = exec_shell::shell_text(&args.command);
    let key = server.tmux.socket.key();
    let lock = if args.wait {
        match PaneLock::wait(&key, &lp.pane_id, args.timeout).await? {
            Some(lock) => Some(lock),
            None => return timed_out(ctx, lp, &text, &args, String::new(), "waiting for another exec on the pane"),
        }
    } else {
        match PaneLock::try_take(&key, &lp.pane_id)? {
            Some(lock) => Some(lock),
            None if args.force => None,
            None => {
                // What the other exec runs is what runs in the pane now.
                exec_shell::idle_shell(lp)?;
                return Err(Error::Refused {
                    code: "pane_busy",
                    message: format!("{} is busy: another `ctmux pane exec --wait` is typing into it", lp.pane_id),
                    hint: Some("use --wait to take turns, or type anyway with --force".into()),
                });
            }
        }
    };
    // The pane as it is now that it is our turn: the exec before us may have ended its shell.
    let now = server.panes().await?.into_iter().find(|p| p.pane_id == lp.pane_id);
    let lp = &now.ok_or_else(|| Error::NotFound { message: format!("pane {} is gone", lp.pane_id), hint: None })?;
    if lp.dead {
        return Err(Error::failed(
            format!("{} has exited; exec needs a running shell", lp.pane_id),
            Some("`ctmux pane new SESSION` makes a pane with a shell".into()),
        ));
    }
    // An earlier exec that timed out may have left its command running: wait our turn for it.
    if args.wait && !super::exec_turn::wait_previous(&key, lp, args.timeout.map(|t| started + t)).await {
        return timed_out(ctx, lp, &text, &args, String::new(), "waiting for an earlier exec's command to finish");
    }
    if !args.force {
        exec_shell::drivable(lp)?;
    }
    // A shell ctmux started with its hook gets just the command, as a person would type it.
    let hooked =
        crate::shell_hook::hooked(crate::process::command_of(lp.pid)).is_some() && !hook_lost(server, lp).await;
    let prompted = hooked && hooked_prompt(server, lp, args.timeout.map(|t| t.saturating_sub(started.elapsed()))).await;
    if !prompted {
        wait_for_prompt(server, lp).await;
        // The shell (a managed pane's own process is the runner it runs under).
        wait_for_startup(crate::process::command_of(lp.pid), args.timeout.map(|t| t.saturating_sub(started.elapsed())))
            .await;
    }
    if !args.force {
        let shell = exec_shell::idle_shell_after(lp, prompted)?;
        exec_shell::check_syntax(&shell, &text).await?;
    }
    if !args.wait {
        if hooked {
            type_text(server, &lp.pane_id, &text).await?;
        } else {
            deliver(server, &lp.pane_id, &exec_shell::plain(&text, server.tmux.binary(), &buffer_name())).await?;
        }
        if ctx.json() {
            ctx.print_json(&serde_json::json!({ "ok": true, "tmux_id": lp.pane_id }));
        }
        return Ok(Exit::Ok);
    }
    let left = args.timeout.map(|t| t.saturating_sub(started.elapsed()));
    if std::env::var_os("CTMUX_MCP_EXEC").is_some() {
        // `ctmux mcp` runs execs as children: from here on the command is in the pane (its turn
        // came); this names the shell whose foreground group a cancelled call interrupts, and the
        // line the command is typed on (its output so far is read from there on a timeout).
        eprintln!("ctmux-exec-typing {} {} {}", lp.pane_id, lp.pid, lp.cursor_line);
    }
    let result =
        if hooked { run_hooked(server, lp, &text, left).await } else { run_and_read(server, lp, &text, left).await };
    if let Ok(Outcome::TimedOut { .. }) = &result {
        if args.kill_on_timeout
            && let Some(group) = crate::process::foreground_group(lp.pid)
        {
            crate::process::signal_group(group, "SIGINT");
            shell_back(crate::process::command_of(lp.pid), group).await;
        }
        // Under the lock, so the next exec knows to wait for what still runs.
        super::exec_turn::leave(&key, lp).await;
    }
    drop(lock);
    match result? {
        Outcome::Finished { output, status } => {
            let doc = ExecDoc { exit_status: Some(status), output, timed_out: false };
            if ctx.json() {
                ctx.print_json(&doc);
            } else {
                print!("{}", doc.output);
            }
            Ok(Exit::Command(u8::try_from(status).unwrap_or(1)))
        }
        Outcome::TimedOut { output } => timed_out(ctx, lp, &text, &args, output, "running"),
        Outcome::Signalled(sig) => {
            eprintln!("ctmux: pane exec interrupted; `{}` may still run in {}", exec_shell::shown(&text), lp.pane_id);
            Ok(Exit::Command(128 + sig))
        }
    }
}

/// After interrupting `group`, waits (at most 2 s) until the shell `shell` has the terminal
/// again, so the next `pane exec` finds an idle shell instead of `pane_busy`: the interrupted
/// job's exits are told by pidfds; the shell's taking the terminal back is looked at every 10 ms.
async fn shell_back(shell: u32, group: u32) {
    let deadline = Instant::now() + Duration::from_secs(2);
    for pid in crate::process::group_members(group) {
        if let Ok(exited) = crate::process::exit_of(pid) {
            let _ = tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), exited).await;
        }
    }
    while crate::process::foreground_group(shell).is_some_and(|g| g != shell) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A timeout: the JSON document says so (exit 3), or the human error does.
fn timed_out(ctx: &Ctx, lp: &LivePane, text: &str, args: &ExecArgs, output: String, doing: &str) -> Result {
    let doc = ExecDoc { exit_status: None, output, timed_out: true };
    if ctx.json() {
        ctx.print_json(&doc);
        return Ok(Exit::Timeout);
    }
    print!("{}", doc.output);
    let secs = args.timeout.map_or(String::new(), crate::units::format_duration);
    Err(Error::Timeout {
        message: format!("`{}` in {} did not finish within {secs} ({doing})", exec_shell::shown(text), lp.pane_id),
        hint: Some(if args.kill_on_timeout && doing == "running" {
            "it was interrupted (SIGINT)".into()
        } else {
            "it is still running; --kill-on-timeout interrupts it".into()
        }),
    })
}

/// Loads `content` into tmux buffer `name`, through `load-buffer`'s stdin: a command-line
/// argument is capped by tmux's message size (16 KiB).
async fn load_buffer(server: &Server, name: &str, content: &str) -> Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut load = tokio::process::Command::new(server.tmux.binary());
    load.args(server.tmux.socket.client_flags())
        .args(["load-buffer", "-b", name, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if server.tmux.socket != crate::tmux::Socket::Default {
        load.env_remove("TMUX");
    }
    let failed = |e: String| Error::failed(format!("typing the command: tmux load-buffer: {e}"), None);
    let mut child = load.spawn().map_err(|e| failed(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(content.as_bytes()).await.map_err(|e| failed(e.to_string()))?;
    }
    let out = child.wait_with_output().await.map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        return Err(failed(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(())
}

/// A fresh tmux buffer name.
pub fn buffer_name() -> String {
    format!("ctmux-exec-{}-{}", std::process::id(), crate::reconcile::build::now_nanos())
}

/// Types `d` into the pane: loads its buffer, pastes its line (bracketed where the shell asks
/// for it, so it is text, not keys) and presses Enter.
pub async fn deliver(server: &Server, pane_id: &str, d: &exec_shell::Delivery) -> Result<()> {
    deliver_after(server, pane_id, d, None).await
}

/// [`deliver`], running `first` (the `pipe-pane` that reads the output) in the same tmux call,
/// before the line is pasted: one tmux process fewer per exec.
async fn deliver_after(server: &Server, pane_id: &str, d: &exec_shell::Delivery, first: Option<Cmd>) -> Result<()> {
    if let Some((name, content)) = &d.buffer {
        load_buffer(server, name, content).await?;
    }
    let line = buffer_name();
    let cmds = [
        first,
        Some(Cmd::new("set-buffer").args(["-b", &line, "--", &d.line])),
        Some(Cmd::new("paste-buffer").args(["-d", "-p", "-r", "-b", &line, "-t", pane_id])),
        Some(Cmd::new("send-keys").args(["-t", pane_id, "Enter"])),
    ];
    let cmds: Vec<Cmd> = cmds.into_iter().flatten().collect();
    server.tmux.run(&cmds).await.map_err(|e| e.into_error("typing the command"))?;
    Ok(())
}

/// Types `text` into the pane as it is (through a tmux buffer loaded from stdin, pasted
/// bracketed where the shell asks for it, so tabs and newlines are text) and presses Enter.
pub async fn type_text(server: &Server, pane_id: &str, text: &str) -> Result<()> {
    let name = buffer_name();
    load_buffer(server, &name, text).await?;
    let cmds = [
        Cmd::new("paste-buffer").args(["-d", "-p", "-r", "-b", &name, "-t", pane_id]),
        Cmd::new("send-keys").args(["-t", pane_id, "Enter"]),
    ];
    if let Err(e) = server.tmux.run(&cmds).await {
        let _ = server.tmux.run(&[Cmd::new("delete-buffer").args(["-b", &name])]).await;
        return Err(e.into_error("typing the command"));
    }
    Ok(())
}

/// Whether an earlier exec found this shell's hook gone (`@ctmux-prompt` = `lost:<pid>`): then
/// exec types its wrapper there, as in any shell without the hook.
async fn hook_lost(server: &Server, lp: &LivePane) -> bool {
    let option = Cmd::query("show-options").args(["-pqv", "-t", &lp.pane_id, crate::shell_hook::PROMPT_OPTION]);
    server.tmux.run(&[option]).await.is_ok_and(|v| v.trim() == format!("lost:{}", crate::process::command_of(lp.pid)))
}

/// Whether the hooked shell of `lp` has shown its prompt: its hook sets the pane option
/// `@ctmux-prompt` to its pid before its first prompt's marks; when it is not set yet, the
/// first prompt's `B` mark is waited for (a control client attached before the option is
/// read, so a prompt after that read is seen) — up to `timeout`, at most 30 s (a slow
/// `.bashrc`). `false` when neither came (a `tmux` the hook could not run): the caller then
/// waits for the shell's startup children as for any shell.
async fn hooked_prompt(server: &Server, lp: &LivePane, timeout: Option<Duration>) -> bool {
    use crate::tmux::control::{Control, Event};
    let Ok(mut control) = Control::attach_ready(&server.tmux, &lp.session_id).await else { return false };
    // The shell's own pid (a managed pane's process is the runner it runs under).
    let pid = crate::process::command_of(lp.pid).to_string();
    let option = Cmd::query("show-options").args(["-pqv", "-t", &lp.pane_id, crate::shell_hook::PROMPT_OPTION]);
    if server.tmux.run(&[option]).await.is_ok_and(|v| v.trim() == pid) {
        control.close().await;
        return true;
    }
    let seen = async {
        let mut raw: Vec<u8> = Vec::new();
        loop {
            match control.next().await {
                Event::Output(id, bytes) if id == lp.pane_id => {
                    raw.extend_from_slice(&bytes);
                    let marks = crate::exec_marks::marks(&raw);
                    if marks.iter().any(|m| m.kind == 'B' && m.aid.as_deref() == Some(pid.as_str())) {
                        return true;
                    }
                    let keep = marks.last().map_or(raw.len().saturating_sub(256), |m| m.end);
                    raw.drain(..keep.min(raw.len()));
                }
                Event::Exit => return false,
                _ => {}
            }
        }
    };
    let cap = timeout.map_or(Duration::from_secs(30), |t| t.min(Duration::from_secs(30)));
    let prompted = tokio::time::timeout(cap, seen).await.unwrap_or(false);
    control.close().await;
    prompted
}

/// How long a hooked shell has to mark the start of the typed command (`C`, printed before
/// the command runs) before exec concludes the hook is gone.
const HOOK_GRACE: Duration = Duration::from_secs(5);

/// Runs `text` in a shell that has ctmux's hook: types just the command, and reads the pane's
/// byte stream (a control client of its session; `%output` carries the OSC 133 marks tmux does
/// not draw) from the shell's `C` mark (output starts) to its `D;<status>` (finished), both
/// with `aid=<shell pid>` so a nested shell's marks do not count. Then waits for the next
/// prompt's `B` mark, so the next exec types into a line editor that is reading.
async fn run_hooked(server: &Server, lp: &LivePane, text: &str, timeout: Option<Duration>) -> Result<Outcome> {
    use crate::tmux::control::{Control, Event};
    let mut signals = Signals::new();
    let mut control = Control::attach_ready(&server.tmux, &lp.session_id)
        .await
        .map_err(|e| Error::failed(format!("cannot attach a control client: {e}"), None))?;
    let exit_of = crate::process::exit_of(lp.pid);
    if let Err(e) = type_text(server, &lp.pane_id, text).await {
        control.close().await;
        return Err(e);
    }
    let aid = crate::process::command_of(lp.pid).to_string();
    let typed = tokio::time::Instant::now();
    let deadline = timeout.map(|t| typed + t);
    let shell_exit = async move {
        match exit_of {
            Ok(f) => f.await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::pin!(shell_exit);
    let Signals { int, term, hup } = &mut signals;
    let mut raw: Vec<u8> = Vec::new();
    let mut scan_from = 0;
    let mut output_from: Option<usize> = None;
    let mut finished: Option<(String, i32)> = None;
    let outcome = loop {
        let sleep = async {
            match (deadline, output_from, &finished) {
                // After `D`: the next prompt gets 2 s to show its `B`.
                (_, _, Some(_)) => {
                    tokio::time::sleep_until(typed.max(tokio::time::Instant::now()) + Duration::from_secs(2)).await
                }
                (d, None, None) => {
                    let grace = typed + HOOK_GRACE;
                    tokio::time::sleep_until(d.map_or(grace, |d| d.min(grace))).await
                }
                (Some(d), Some(_), None) => tokio::time::sleep_until(d).await,
                (None, Some(_), None) => std::future::pending().await,
            }
        };
        tokio::select! {
            event = control.next() => match event {
                Event::Output(id, bytes) if id == lp.pane_id => {
                    raw.extend_from_slice(&bytes);
                    let found = crate::exec_marks::marks(&raw[scan_from..]);
                    let mut last_end = scan_from;
                    for m in found {
                        let (start, end) = (scan_from + m.start, scan_from + m.end);
                        last_end = end;
                        if m.aid.as_deref() != Some(aid.as_str()) {
                            continue;
                        }
                        match (m.kind, output_from, &finished) {
                            ('C', None, None) => output_from = Some(end),
                            ('D', Some(from), None) => {
                                let output = crate::terminal::render_lines(&String::from_utf8_lossy(&raw[from..start]));
                                // A bare `D` says nothing about the status: never read it as 0.
                                if let Some(status) = m.status {
                                    finished = Some((output, status));
                                }
                            }
                            ('B', _, Some(_)) => {
                                let (output, status) = finished.take().unwrap_or_default();
                                control.close().await;
                                return Ok(Outcome::Finished { output, status });
                            }
                            _ => {}
                        }
                    }
                    // Marks are short: an unfinished one is within the last 256 bytes.
                    scan_from = last_end.max(raw.len().saturating_sub(256));
                    if let Some(from) = output_from { scan_from = scan_from.max(from); }
                }
                Event::Exit => break Err(ended_early(server, lp).await),
                _ => {}
            },
            () = &mut shell_exit => break Err(ended_early(server, lp).await),
            () = sleep => {
                if let Some((output, status)) = finished.take() {
                    break Ok(Outcome::Finished { output, status });
                }
                match output_from {
                    None if deadline.is_none_or(|d| typed + HOOK_GRACE <= d) && tokio::time::Instant::now() >= typed + HOOK_GRACE => {
                        // The next exec on this shell types its wrapper instead.
                        let lost = Cmd::new("set-option").args(["-p", "-t", &lp.pane_id, crate::shell_hook::PROMPT_OPTION])
                            .arg(format!("lost:{}", crate::process::command_of(lp.pid)));
                        let _ = server.tmux.run(&[lost]).await;
                        break Err(Error::failed(
                            format!(
                                "the shell of {} did not mark the start of `{}` (no OSC 133 C mark within {}s): its shell integration hook is gone",
                                lp.pane_id,
                                exec_shell::shown(text),
                                HOOK_GRACE.as_secs()
                            ),
                            Some("was PS0 or PROMPT_COMMAND reset? The command was typed and may be running (`ctmux pane capture` shows the pane); later execs here use the typed wrapper".into()),
                        ));
                    }
                    from => {
                        let output = from.map_or(String::new(), |f| crate::terminal::render_lines(&String::from_utf8_lossy(&raw[f..])));
                        break Ok(Outcome::TimedOut { output });
                    }
                }
            }
            () = recv(int) => break Ok(Outcome::Signalled(libc::SIGINT as u8)),
            () = recv(term) => break Ok(Outcome::Signalled(libc::SIGTERM as u8)),
            () = recv(hup) => break Ok(Outcome::Signalled(libc::SIGHUP as u8)),
        }
    };
    control.close().await;
    outcome
}

enum Outcome {
    Finished { output: String, status: i32 },
    TimedOut { output: String },
    Signalled(u8),
}

/// Types the wrapped command and reads the pane's output until its end marker.
async fn run_and_read(server: &Server, lp: &LivePane, text: &str, timeout: Option<Duration>) -> Result<Outcome> {
    // Ours before the pipe exists: a Ctrl-C from then on closes it (exit 130) instead of killing
    // ctmux with the pipe left open.
    let mut signals = Signals::new();
    let id = format!("{}-{}", std::process::id(), crate::reconcile::build::now_nanos());
    // A managed pane's pipe is its log sink: replacing it would end the pane's log. Its output is
    // read through a control client instead (as a hooked shell's is).
    if piped(server, lp).await {
        return run_and_read_control(server, lp, text, &id, timeout, &mut signals).await;
    }
    let fifo = make_fifo(&id)?;
    // Both ends of a FIFO block in open() until the other comes: a plain thread opens ours, then
    // unlinks it and forwards what it reads.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let path = fifo.clone();
    std::thread::spawn(move || {
        let Ok(mut f) = std::fs::File::open(&path) else { return };
        let _ = std::fs::remove_file(&path);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let pipe = format!("exec cat > {}", sh_quote(&fifo.to_string_lossy()));
    // `-I` too, though `cat` writes nothing back: tmux then reads the pipe and closes it the
    // moment `cat` is gone, instead of at its next failed write. Sent in the tmux call that
    // types the command, ahead of it.
    let pipe = Cmd::new("pipe-pane").args(["-I", "-O", "-t", &lp.pane_id, &crate::tmux::command::literal(&pipe)]);
    let outcome = read_until_end(server, lp, text, &id, &mut rx, timeout, &mut signals, Some(pipe)).await;
    if server.tmux.run(&[Cmd::new("pipe-pane").args(["-t", &lp.pane_id])]).await.is_err() {
        // tmux refuses pipe-pane on a dead pane (the shell ran `exit`): end the pipe's `cat`.
        stop_writer(&fifo);
    }
    let _ = std::fs::remove_file(&fifo);
    outcome
}

/// Whether the pane's output already goes through a `pipe-pane` (a managed pane's log sink).
async fn piped(server: &Server, lp: &LivePane) -> bool {
    let q = Cmd::query("display-message").args(["-p", "-t", &lp.pane_id, "#{pane_pipe}"]);
    server.tmux.run(&[q]).await.is_ok_and(|out| out.trim() == "1")
}

/// [`run_and_read`] for a pane whose pipe is taken: the pane's output comes from a control
/// client attached to its session before anything is typed.
async fn run_and_read_control(
    server: &Server,
    lp: &LivePane,
    text: &str,
    id: &str,
    timeout: Option<Duration>,
    signals: &mut Signals,
) -> Result<Outcome> {
    use crate::tmux::control::{Control, Event};
    let mut control = Control::attach_ready(&server.tmux, &lp.session_id)
        .await
        .map_err(|e| Error::failed(format!("cannot attach a control client: {e}"), None))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let pane = lp.pane_id.clone();
    let feed = tokio::spawn(async move {
        loop {
            tokio::select! {
                event = control.next() => match event {
                    Event::Output(p, bytes) => {
                        let gone = p == pane && tx.send(bytes).is_err();
                        if gone {
                            break;
                        }
                    }
                    Event::Exit => break,
                    _ => {}
                },
                _ = &mut stopped => break,
            }
        }
        control.close().await;
    });
    let outcome = read_until_end(server, lp, text, id, &mut rx, timeout, signals, None).await;
    let _ = stop.send(());
    let _ = feed.await;
    outcome
}

/// Terminates the process writing into `fifo` (the `cat` behind the pane's pipe); tmux closes a
/// pipe whose process is gone.
fn stop_writer(fifo: &std::path::Path) {
    let Some(name) = fifo.file_name().map(|n| n.to_string_lossy().into_owned()) else { return };
    let Ok(procs) = std::fs::read_dir("/proc") else { return };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if std::fs::read_link(p.path().join("fd/1")).is_ok_and(|l| l.to_string_lossy().contains(&name)) {
            crate::process::signal(pid, "SIGTERM");
        }
    }
}

/// The FIFO for one exec's output, in the runtime directory; stale ones of dead execs go first.
fn make_fifo(id: &str) -> Result<std::path::PathBuf> {
    let dir = crate::daemon::paths::runtime_dir()
        .map(|d| d.join("exec"))
        .and_then(|d| crate::fs_safe::create_dir_all(&d))
        .map_err(|e| Error::failed(format!("cannot create the runtime directory: {e}"), None))?;
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let owner = name.strip_suffix(".fifo").and_then(|n| n.split('-').next()).and_then(|p| p.parse().ok());
            if owner.is_some_and(|pid| !crate::process::alive(pid)) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let path = dir.join(format!("{id}.fifo"));
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::failed("runtime directory path holds a NUL byte", None))?;
    // SAFETY: mkfifo reads the NUL-terminated path we own.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(Error::failed(
            format!("cannot create {}: {}", path.display(), std::io::Error::last_os_error()),
            None,
        ));
    }
    Ok(path)
}

/// Types the wrapped `text` (after `pipe`, in the same tmux call, when the output comes through
/// a pipe) and reads `rx` until the end marker, the shell's exit, the timeout or a signal.
#[allow(clippy::too_many_arguments)]
async fn read_until_end(
    server: &Server,
    lp: &LivePane,
    text: &str,
    id: &str,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    timeout: Option<Duration>,
    signals: &mut Signals,
    pipe: Option<Cmd>,
) -> Result<Outcome> {
    let end = format!("CTMUX-END-{id} ");
    let mut raw: Vec<u8> = Vec::new();
    // Watch the shell before typing: a command that ends it (`exit 3`) can be done, and the
    // shell reaped by tmux, before a later look.
    let exit_of = crate::process::exit_of(lp.pid);
    let delivery = exec_shell::wrapped(id, text, server.tmux.binary(), &buffer_name());
    deliver_after(server, &lp.pane_id, &delivery, pipe).await?;
    let forget =
        |d: &exec_shell::Delivery| d.buffer.as_ref().map(|(name, _)| Cmd::new("delete-buffer").args(["-b", name]));
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let shell_exit = async move {
        match exit_of {
            Ok(f) => f.await,
            // No pidfd (kernel < 5.3): the pipe's end or the timeout ends the wait.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::pin!(shell_exit);
    let Signals { int, term, hup } = signals;
    loop {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(c) => {
                    let from = raw.len().saturating_sub(end.len() + 16);
                    raw.extend_from_slice(&c);
                    if let Some(at) = find(&raw[from..], end.as_bytes()).map(|i| i + from)
                        && raw[at..].contains(&b'\n')
                    {
                        let (output, status) = extract(&String::from_utf8_lossy(&raw), id);
                        return Ok(Outcome::Finished { output, status: status.unwrap_or(1) });
                    }
                }
                None => {
                    if let Some(c) = forget(&delivery) {
                        let _ = server.tmux.run(&[c]).await;
                    }
                    return Err(ended_early(server, lp).await);
                }
            },
            () = &mut shell_exit => {
                // Let the last output through the pipe before saying what happened.
                while let Ok(Some(c)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                    raw.extend_from_slice(&c);
                }
                if let Some(c) = forget(&delivery) {
                    let _ = server.tmux.run(&[c]).await;
                }
                return Err(ended_early(server, lp).await);
            }
            () = sleep => {
                let (output, _) = extract(&String::from_utf8_lossy(&raw), id);
                return Ok(Outcome::TimedOut { output });
            }
            () = recv(int) => return Ok(Outcome::Signalled(libc::SIGINT as u8)),
            () = recv(term) => return Ok(Outcome::Signalled(libc::SIGTERM as u8)),
            () = recv(hup) => return Ok(Outcome::Signalled(libc::SIGHUP as u8)),
        }
    }
}

/// The signals that end a waiting exec (exit 128 + N, the pipe closed), caught from before the
/// pipe is set.
struct Signals {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
            hup: signal(SignalKind::hangup()).ok(),
        }
    }
}

/// Resolves when `s` is delivered; never without a handler.
async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// The output stopped before the end marker: the shell exited (`exit`, `exec`), or someone
/// replaced the pane's pipe.
async fn ended_early(server: &Server, lp: &LivePane) -> Error {
    let now = server.panes().await.ok().and_then(|ps| ps.into_iter().find(|p| p.pane_id == lp.pane_id));
    match now {
        Some(p) if !p.dead && crate::process::alive(lp.pid) => Error::failed(
            format!("the output of {} stopped before the command finished (its pipe-pane was replaced)", lp.pane_id),
            Some("another program ran `tmux pipe-pane` on the pane".into()),
        ),
        p => Error::Refused {
            code: "shell_exited",
            message: format!(
                "the shell of {} exited{} before the command finished (did it run `exit` or `exec`?)",
                lp.pane_id,
                p.and_then(|p| p.exit_status).map_or(String::new(), |s| format!(" with status {s}"))
            ),
            hint: Some(
                "to run a command that ends its shell, use `sh -c '…'`; `pane new SESSION` makes a new pane".into(),
            ),
        },
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A shell still running its startup files (children in its own process group) gets up to
/// 10 s (or what is left of `--timeout`) to reach its prompt; each child's exit wakes us.
async fn wait_for_startup(shell: u32, timeout: Option<Duration>) {
    let wait = async {
        // An idle shell (the usual case) has none: no settling wait then.
        if exec_shell::startup_children(shell).is_empty() {
            return;
        }
        loop {
            while let Some(&child) = exec_shell::startup_children(shell).first() {
                match crate::process::exit_of(child) {
                    Ok(exit) => exit.await,
                    Err(_) => tokio::task::yield_now().await,
                }
            }
            // Startup files run one child after another (`$(dircolors)`, `$(lesspipe)`): the
            // shell is through them when none comes for a moment.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if exec_shell::startup_children(shell).is_empty() {
                return;
            }
        }
    };
    let cap = timeout.map_or(Duration::from_secs(10), |t| t.min(Duration::from_secs(10)));
    let _ = tokio::time::timeout(cap, wait).await;
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
