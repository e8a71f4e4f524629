//! The CLI side of the daemon: find it, start it detached, ask it things.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::paths;
use super::protocol::{Envelope, Request, Response, VERSION};
use crate::error::Error;
use crate::tmux::Socket;

/// Sends one request to the daemon of `socket`'s server; `None` when no daemon answers.
pub fn request(socket: &Socket, request: Request) -> Result<Option<Response>, Error> {
    let path = paths::socket_path(socket).map_err(paths::runtime_error)?;
    let Ok(mut stream) = UnixStream::connect(&path) else { return Ok(None) };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let stopping = request == Request::Stop;
    let line = serde_json::to_string(&Envelope { v: VERSION, request }).unwrap_or_default();
    stream.write_all(format!("{line}\n").as_bytes()).map_err(|e| Error::failed(format!("daemon: {e}"), None))?;
    let mut reply = String::new();
    BufReader::new(stream)
        .read_line(&mut reply)
        .map_err(|e| Error::failed(format!("daemon did not answer: {e}"), None))?;
    // A daemon asked to stop may close the connection before its answer is written; one that
    // is stopping closes without answering.
    if reply.trim().is_empty() {
        return Ok(stopping.then(Response::ok));
    }
    serde_json::from_str(&reply).map(Some).map_err(|e| Error::failed(format!("daemon answered nonsense: {e}"), None))
}

/// Asks the daemon to stop and waits (up to 5 s) until it has; returns whether one ran.
pub fn stop(socket: &Socket) -> Result<bool, Error> {
    let answered = request(socket, Request::Stop)?.is_some();
    let path = paths::socket_path(socket).map_err(|e| Error::failed(e.to_string(), None))?;
    let start = Instant::now();
    // Gone once it has let go of its lock (it stops listening first, then finishes its logs).
    let free = || std::fs::File::open(path.with_extension("lock")).map_or(true, |f| f.try_lock().is_ok());
    while answered && !free() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(answered)
}

/// Starts the daemon for `socket`'s server unless one runs; returns whether it started one.
pub fn ensure_started(socket: &Socket) -> Result<bool, Error> {
    if request(socket, Request::Status)?.is_some() {
        return Ok(false);
    }
    let exe = std::env::current_exe().map_err(|e| Error::failed(format!("cannot find the ctmux binary: {e}"), None))?;
    let log =
        paths::log_path(socket).map_err(|e| Error::failed(format!("cannot create the state directory: {e}"), None))?;
    let out = crate::state::open_append(&log)
        .map_err(|e| Error::failed(format!("cannot open {}: {e}", log.display()), None))?;
    let err = out.try_clone().map_err(|e| Error::failed(e.to_string(), None))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(socket.flags()).args(["daemon", "run"]).stdin(std::process::Stdio::null()).stdout(out).stderr(err);
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid(2) is async-signal-safe; it detaches the daemon from our terminal and session.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| Error::failed(format!("cannot start the daemon: {e}"), None))?;
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
    let path = paths::socket_path(socket).map_err(paths::runtime_error)?;
    let Ok(mut stream) = UnixStream::connect(&path) else { return Ok(None) };
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
