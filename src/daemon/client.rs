//! The CLI side of the daemon: find it (here, or where the tmux server's registration says),
//! start it detached under its supervisor, ask it things.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::protocol::{Envelope, Request, Response, VERSION};
use super::{paths, registry};
use crate::error::Error;
use crate::tmux::Socket;

/// Connects to the daemon of `socket`'s server: at this runtime directory's socket, else at the
/// one the server's registration names ([`registry`]), if that one can be trusted. `None` when
/// no daemon answers.
fn connect(socket: &Socket) -> Result<Option<(UnixStream, PathBuf)>, Error> {
    let path = paths::socket_path(socket).map_err(paths::runtime_error)?;
    if let Ok(stream) = UnixStream::connect(&path) {
        return Ok(Some((stream, path)));
    }
    // Started with another XDG_RUNTIME_DIR (or `TMUX` named the default server differently).
    let Some(registered) = registry::read(socket).filter(|r| r.socket != path) else { return Ok(None) };
    if std::fs::symlink_metadata(&registered.socket).is_err() {
        // Not listening yet (it registers first), or gone.
        return Ok(None);
    }
    if let Err(why) = registry::trusted(&registered.socket) {
        if registered.alive() {
            return Err(Error::failed(
                format!("the daemon of this tmux server ({}) cannot be trusted: {why}", registered.describe()),
                Some("stop it, or make its runtime directory yours with mode 0700".into()),
            ));
        }
        return Ok(None);
    }
    Ok(UnixStream::connect(&registered.socket).ok().map(|s| (s, registered.socket)))
}

/// Sends one request to the daemon of `socket`'s server; `None` when no daemon answers.
pub fn request(socket: &Socket, request: Request) -> Result<Option<Response>, Error> {
    let Some((mut stream, _)) = connect(socket)? else { return Ok(None) };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let stopping = request == Request::Stop;
    let line = serde_json::to_string(&Envelope { v: VERSION, request }).unwrap_or_default();
    stream.write_all(format!("{line}\n").as_bytes()).map_err(|e| Error::failed(format!("daemon: {e}"), None))?;
    let mut reply = String::new();
    match BufReader::new(stream).read_line(&mut reply) {
        // A daemon dying as we connected (killed: its socket is closed a moment after its pid
        // looks gone): nobody answers.
        Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted) => {
            return Ok(None);
        }
        Err(e) => return Err(Error::failed(format!("daemon did not answer: {e}"), None)),
        Ok(_) => {}
    }
    // A daemon asked to stop may close the connection before its answer is written; one that
    // is stopping closes without answering.
    if reply.trim().is_empty() {
        return Ok(stopping.then(Response::ok));
    }
    serde_json::from_str(&reply).map(Some).map_err(|e| Error::failed(format!("daemon answered nonsense: {e}"), None))
}

/// Asks the daemon to stop and waits (up to 5 s) until it has, and its supervisor with it;
/// returns whether one ran.
pub fn stop(socket: &Socket) -> Result<bool, Error> {
    let supervisor = request(socket, Request::Status)?.and_then(|r| r.status).and_then(|s| s.supervisor);
    let Some((_, path)) = connect(socket)? else { return Ok(false) };
    let answered = request(socket, Request::Stop)?.is_some();
    let start = Instant::now();
    // Gone once it has let go of its lock (it stops listening first, then finishes its logs),
    // and its supervisor has seen it exit.
    let free = || std::fs::File::open(path.with_extension("lock")).map_or(true, |f| f.try_lock().is_ok());
    let supervised = || supervisor.is_some_and(crate::process::alive);
    while answered && (!free() || supervised()) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(answered)
}

/// How the daemon is started: its supervisor ([`crate::supervise`]), the small
/// `ctmux-supervise` beside this executable or else this executable in its supervisor mode,
/// running `ctmux [-L/-S …] daemon run`.
fn supervisor_command(exe: &Path, socket: &Socket) -> std::process::Command {
    let small = exe.with_file_name(crate::supervise::BINARY);
    let mut cmd = if small.is_file() {
        std::process::Command::new(small)
    } else {
        let mut cmd = std::process::Command::new(exe);
        cmd.arg(crate::supervise::MODE);
        cmd
    };
    cmd.arg(exe).args(socket.flags()).args(["daemon", "run"]);
    cmd
}

/// Starts the daemon for `socket`'s server unless one runs; returns whether it started one.
pub fn ensure_started(socket: &Socket) -> Result<bool, Error> {
    // One start at a time in this process (`up` starts it from each branch that builds a
    // session): the second caller finds the first one's daemon.
    static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = STARTING.lock().unwrap_or_else(|e| e.into_inner());
    if request(socket, Request::Status)?.is_some() {
        return Ok(false);
    }
    // A daemon is starting (registered, not listening yet), or a supervisor is starting its
    // daemon again (killed a moment ago): wait for that one.
    if registry::read(socket).is_some_and(|r| r.alive() || r.supervisor_alive()) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if request(socket, Request::Status)?.is_some() {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let exe = std::env::current_exe().map_err(|e| Error::failed(format!("cannot find the ctmux binary: {e}"), None))?;
    let log =
        paths::log_path(socket).map_err(|e| Error::failed(format!("cannot create the state directory: {e}"), None))?;
    let out = crate::state::open_append(&log)
        .map_err(|e| Error::failed(format!("cannot open {}: {e}", log.display()), None))?;
    let err = out.try_clone().map_err(|e| Error::failed(e.to_string(), None))?;
    let mut cmd = supervisor_command(&exe, socket);
    cmd.stdin(std::process::Stdio::null()).stdout(out).stderr(err);
    // The supervisor detaches itself (a new session) and its first process exits at once, so
    // nothing is left for us to reap.
    cmd.status().map_err(|e| Error::failed(format!("cannot start the daemon: {e}"), None))?;
    // The daemon answers once it listens; wait a bounded time for that.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if request(socket, Request::Status)?.is_some() {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(Error::failed("the daemon did not start", Some(format!("see its log: {}", log.display()))))
}

/// Follows the daemon's events after `after_id`: stored ones first, then live ones, as JSON
/// lines, until the daemon stops. `None` when no daemon answers.
pub fn follow(socket: &Socket, after_id: i64) -> Result<Option<impl Iterator<Item = String>>, Error> {
    let Some((mut stream, _)) = connect(socket)? else { return Ok(None) };
    let line =
        serde_json::to_string(&Envelope { v: VERSION, request: Request::Follow { after_id } }).unwrap_or_default();
    stream.write_all(format!("{line}\n").as_bytes()).map_err(|e| Error::failed(format!("daemon: {e}"), None))?;
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first).map_err(|e| Error::failed(format!("daemon did not answer: {e}"), None))?;
    let answer: Response =
        serde_json::from_str(&first).map_err(|e| Error::failed(format!("daemon answered nonsense: {e}"), None))?;
    if !answer.ok {
        return Err(Error::failed(answer.error.unwrap_or_else(|| "the daemon refused".into()), None));
    }
    Ok(Some(reader.lines().map_while(|l| l.ok())))
}
