//! Running the project's `hooks:` (see `manifest::hooks` for the keys): each command is run by
//! the project's shell as a child of ctmux, in the project's cwd, with the project's environment
//! plus `CTMUX_PROJECT`, `CTMUX_HOOK`, `PORT_<NAME>`, the tmux server (`CTMUX_TMUX_SOCKET`) and,
//! at `up`, `CTMUX_FIRST_UP` (`1` when nothing of the project was running, else `0`).
//!
//! Promises: nothing of a hook travels in argv — the shell gets `eval "$CTMUX_HOOK_COMMAND"` and
//! the command itself (interpolated, so it may hold a secret) and the environment reach it
//! through its environment, which only this user can read. Commands run in order and the first
//! failure stops the rest; its output (stdout and stderr, interleaved) is echoed on ctmux's
//! stderr as it comes (never on stdout, which `--json` keeps for its document) and its last
//! lines are kept for the error.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use crate::error::Error;
use crate::manifest::model::Project;
use crate::tmux::Socket;

/// Lines of a failing hook's output kept for its error.
const TAIL_LINES: usize = 20;

/// How long, after a hook exits, its output is still read: a process it left in the background
/// may hold the pipe open forever.
const DRAIN: Duration = Duration::from_millis(500);

/// Which hook: the manifest key and when `up`/`down` runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Every `up`, before anything changes.
    BeforeUp,
    /// `up` when no pane of the project was running, after `before_up`.
    FirstUp,
    /// `up`, after the build (or what `--wait` waits for).
    AfterUp,
    /// A whole-project `down`, before anything stops.
    BeforeDown,
    /// A whole-project `down`, after everything is gone.
    AfterDown,
}

impl Phase {
    /// The manifest key.
    pub fn key(self) -> &'static str {
        match self {
            Phase::BeforeUp => "before_up",
            Phase::FirstUp => "first_up",
            Phase::AfterUp => "after_up",
            Phase::BeforeDown => "before_down",
            Phase::AfterDown => "after_down",
        }
    }

    fn commands(self, project: &Project) -> &[String] {
        let h = &project.hooks;
        match self {
            Phase::BeforeUp => &h.before_up,
            Phase::FirstUp => &h.first_up,
            Phase::AfterUp => &h.after_up,
            Phase::BeforeDown => &h.before_down,
            Phase::AfterDown => &h.after_down,
        }
    }
}

/// Runs the commands of hook `phase` in order; the first that fails (non-zero exit, a signal,
/// or a shell that cannot start) ends the run with an error (exit 1) carrying its last lines.
/// `echo`: copy their output to stderr as it comes (off with `-q`). `extra`: more environment
/// (`up` sets `CTMUX_FIRST_UP`).
pub fn run(project: &Project, socket: &Socket, phase: Phase, echo: bool, extra: &[(&str, &str)]) -> Result<(), Error> {
    let commands = phase.commands(project);
    for (i, command) in commands.iter().enumerate() {
        let which = if commands.len() > 1 {
            format!("`hooks.{}` (command {} of {})", phase.key(), i + 1, commands.len())
        } else {
            format!("`hooks.{}`", phase.key())
        };
        run_one(project, socket, phase, command, echo, extra).map_err(|(status, tail)| {
            let output = if tail.is_empty() {
                "it printed nothing".to_string()
            } else {
                format!("its last output:\n{}", tail.join("\n"))
            };
            let after = match phase {
                Phase::BeforeUp | Phase::FirstUp => "\nnothing was changed",
                Phase::AfterUp => "\nthe stack is up; only the hook failed",
                Phase::BeforeDown | Phase::AfterDown => "",
            };
            Error::failed(format!("{which} failed: {status}"), Some(format!("{output}{after}")))
        })?;
    }
    Ok(())
}

/// The environment a hook runs with (besides ctmux's own): the project's, its ports, its
/// identity and its tmux server.
fn env(
    project: &Project,
    socket: &Socket,
    phase: Phase,
    command: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = project.hooks.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env.extend(project.ports.iter().filter(|p| p.port != 0).map(|p| (p.var(), p.port.to_string())));
    // ctmux's own `PWD` names the directory it was called from, not the hook's.
    env.push(("PWD".into(), project.hooks.cwd.display().to_string()));
    env.push(("CTMUX_PROJECT".into(), project.name.clone()));
    env.push(("CTMUX_HOOK".into(), phase.key().into()));
    env.push(("CTMUX_HOOK_COMMAND".into(), command.into()));
    match socket {
        Socket::Default => {}
        Socket::Name(n) => env.push(("CTMUX_TMUX_SOCKET".into(), n.clone())),
        Socket::Path(p) => env.push(("CTMUX_TMUX_SOCKET".into(), p.display().to_string())),
    }
    env
}

/// Runs one command; `Err((how it ended, its last lines))` unless it exited 0.
fn run_one(
    project: &Project,
    socket: &Socket,
    phase: Phase,
    command: &str,
    echo: bool,
    extra: &[(&str, &str)],
) -> Result<(), (String, Vec<String>)> {
    let (reader, writer) = std::io::pipe().map_err(|e| (format!("cannot make a pipe: {e}"), Vec::new()))?;
    let child = {
        let err = writer.try_clone().map_err(|e| (format!("cannot make a pipe: {e}"), Vec::new()))?;
        let mut cmd = Command::new(&project.hooks.shell);
        cmd.arg("-c")
            .arg("eval \"$CTMUX_HOOK_COMMAND\"")
            .current_dir(&project.hooks.cwd)
            .envs(env(project, socket, phase, command, extra))
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(err);
        // `cmd` (and with it the parent's write ends) is dropped at the end of this block, so the
        // reader sees EOF once the hook and what it started are done.
        cmd.spawn()
    };
    let mut child = child.map_err(|e| {
        (format!("cannot run {} in {}: {e}", project.hooks.shell, project.hooks.cwd.display()), Vec::new())
    })?;
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
    let (done_tx, done_rx) = mpsc::channel();
    {
        let tail = tail.clone();
        let prefix = format!("[{}] ", phase.key());
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            let mut buf = Vec::new();
            while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
                let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string();
                buf.clear();
                if echo {
                    let _ = writeln!(std::io::stderr().lock(), "{prefix}{line}");
                }
                let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                if t.len() == TAIL_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
            let _ = done_tx.send(());
        });
    }
    let status = child.wait().map_err(|e| (format!("waiting for it failed: {e}"), Vec::new()))?;
    let _ = done_rx.recv_timeout(DRAIN);
    let lines: Vec<String> = tail.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
    if status.success() {
        return Ok(());
    }
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "it failed".into(),
    };
    Err((how, lines))
}
