//! One daemon per tmux server, whatever the caller's environment: the daemon registers itself
//! in the tmux server (the server option [`OPTION`], `pid=… start=… supervisor=… socket=…`),
//! so a verb run with another `XDG_RUNTIME_DIR` (a cron job, a second terminal) finds it there,
//! and a second daemon refuses to start and names the one that serves the server.
//!
//! The registration is taken with a compare-and-set that tmux runs atomically (one command
//! list: a guard aborts the list when the option changed since we read it), and taken over only
//! from a daemon that is gone: its pid is not running, or runs a process that started at
//! another time (a reused pid), or is not a `ctmux daemon run`. A verb trusts the socket a
//! registration names only when it is a socket owned by this user in a directory owned by this
//! user that nobody else can write to (the rules of [`super::paths::runtime_dir`]). A daemon
//! clears its registration when it exits cleanly; a killed one leaves it, and the next daemon
//! takes it over.
//!
//! Also here: the supervisor's side of a daemon ([`adopt_ready_fd`], [`notify_ready`]; see
//! [`crate::supervise`]) and the signals that stop a daemon cleanly ([`stop_signal`]).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::error::Error;
use crate::tmux::{Cmd, Socket, Tmux};

/// The server option that names the daemon serving the server.
pub const OPTION: &str = "@ctmux-daemon";

/// The server option a registration's guard sets when the registration changed since it was
/// read; `set-option -o` on it then fails and tmux skips the rest of the command list.
const GUARD: &str = "@ctmux-daemon-guard";

/// A daemon's registration in its tmux server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The daemon's pid.
    pub pid: u32,
    /// Its start time (`/proc/PID/stat` field 22, clock ticks since boot): a reused pid has
    /// another.
    pub start: u64,
    /// Its supervisor's pid, when it runs under one.
    pub supervisor: Option<u32>,
    /// The Unix socket it listens on.
    pub socket: PathBuf,
}

impl Registration {
    /// Parses the option's value; `None` for anything else (unset, or not ours).
    pub fn parse(value: &str) -> Option<Registration> {
        let value = value.trim_end_matches('\n');
        let (head, socket) = value.split_once(" socket=")?;
        let mut fields = head.split(' ');
        let pid = fields.next()?.strip_prefix("pid=")?.parse().ok()?;
        let start = fields.next()?.strip_prefix("start=")?.parse().ok()?;
        let supervisor = match fields.next()?.strip_prefix("supervisor=")? {
            "-" => None,
            n => Some(n.parse().ok()?),
        };
        if fields.next().is_some() || socket.is_empty() {
            return None;
        }
        Some(Registration { pid, start, supervisor, socket: PathBuf::from(socket) })
    }

    /// The option's value.
    pub fn render(&self) -> String {
        let supervisor = self.supervisor.map_or("-".to_string(), |p| p.to_string());
        format!("pid={} start={} supervisor={supervisor} socket={}", self.pid, self.start, self.socket.display())
    }

    /// A tmux format that is non-empty while the option still holds this registration (only
    /// digits in it: nothing of the path needs escaping).
    fn still_mine(&self) -> String {
        format!("#{{m:pid={} start={} *,#{{{OPTION}}}}}", self.pid, self.start)
    }

    /// Whether the daemon it names still runs: the pid runs, started at the registered time,
    /// and (when its arguments can be read) is a `ctmux daemon run`.
    pub fn alive(&self) -> bool {
        if start_ticks(self.pid) != Some(self.start) {
            return false;
        }
        crate::process::cmdline(self.pid).is_none_or(|args| is_daemon(&args))
    }

    /// Whether its supervisor still runs (it will start the daemon again).
    pub fn supervisor_alive(&self) -> bool {
        self.supervisor.is_some_and(|pid| {
            crate::process::alive(pid)
                && crate::process::cmdline(pid).is_some_and(|a| a.iter().any(|a| a.contains("supervise")))
        })
    }

    /// "pid N (socket P)", for messages.
    pub fn describe(&self) -> String {
        format!("pid {} listening on {}", self.pid, self.socket.display())
    }
}

/// Whether these arguments are a `ctmux … daemon run`.
fn is_daemon(args: &[String]) -> bool {
    args.windows(2).any(|w| w[0] == "daemon" && w[1] == "run")
}

/// A process's start time in clock ticks since boot; `None` when it is gone (or a zombie).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace();
    if matches!(fields.next()?, "Z" | "X") {
        return None;
    }
    // Field 22 overall; `fields` starts at field 3 (the state), already taken.
    fields.nth(18)?.parse().ok()
}

/// Whether `path` may be trusted as a daemon's socket: a socket owned by this user, in a
/// directory owned by this user that is not group or world writable (not a symlink either).
pub fn trusted(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    // SAFETY: getuid(2) cannot fail and touches no memory.
    let uid = unsafe { libc::getuid() };
    let dir = path.parent().ok_or("it has no directory")?;
    let d = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !d.is_dir() || d.uid() != uid || d.mode() & 0o022 != 0 {
        return Err(format!("its directory {} is not yours alone", dir.display()));
    }
    let s = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !s.file_type().is_socket() || s.uid() != uid {
        return Err(format!("{} is not a socket of yours", path.display()));
    }
    Ok(())
}

/// The registration of `socket`'s server, read with one `tmux` call (for the synchronous
/// client side); `None` when there is none or the server does not answer.
pub fn read(socket: &Socket) -> Option<Registration> {
    let tmux = Tmux::new(socket.clone());
    let mut cmd = std::process::Command::new(tmux.binary());
    cmd.args(socket.flags()).args(["show-options", "-s", "-q", "-v", OPTION]);
    cmd.stdin(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    if *socket != Socket::Default {
        cmd.env_remove("TMUX");
    }
    let out = cmd.output().ok().filter(|o| o.status.success())?;
    Registration::parse(&String::from_utf8_lossy(&out.stdout))
}

/// Fails, naming the owner, when a daemon that still runs is registered in `socket`'s server.
pub fn refuse_if_served(socket: &Socket) -> Result<(), Error> {
    match read(socket) {
        Some(r) if r.pid != std::process::id() && r.alive() => Err(served_by(&r)),
        _ => Ok(()),
    }
}

/// The refusal of a second daemon.
fn served_by(r: &Registration) -> Error {
    Error::failed(
        format!("another ctmux daemon already serves this tmux server: {}", r.describe()),
        Some(format!(
            "it is registered in the server as {OPTION}; `ctmux daemon status` finds it from any XDG_RUNTIME_DIR, `ctmux daemon stop` stops it"
        )),
    )
}

/// This daemon's registration, once taken.
static MINE: OnceLock<Registration> = OnceLock::new();

/// This daemon's registration (`None` before it registered, or with no tmux server).
pub fn mine() -> Option<&'static Registration> {
    MINE.get()
}

/// Registers this daemon (listening on `path`) in `tmux`'s server. Fails, naming the owner,
/// when another daemon that still runs serves the server. `Ok(None)` when there is no server
/// to register in (the daemon then finds that out and exits).
pub async fn claim(tmux: &Tmux, path: &Path) -> Result<Option<Registration>, Error> {
    let me = Registration {
        pid: std::process::id(),
        start: start_ticks(std::process::id()).unwrap_or(0),
        supervisor: supervisor(),
        socket: path.to_path_buf(),
    };
    let show = || Cmd::query("show-options").args(["-s", "-q", "-v", OPTION]);
    for _ in 0..20 {
        let current = match tmux.run(&[show()]).await {
            Ok(v) => v,
            Err(_) => return Ok(None),
        };
        let old = Registration::parse(&current);
        // A format that is non-empty when the option no longer holds what we read.
        let changed = match &old {
            Some(r) if r.pid == me.pid && r.start == me.start => {
                let _ = MINE.set(me.clone());
                return Ok(Some(me));
            }
            Some(r) if r.alive() => return Err(served_by(r)),
            Some(r) => format!("#{{?{},,1}}", r.still_mine()),
            None => format!("#{{m:pid=*,#{{{OPTION}}}}}"),
        };
        let cas = [
            Cmd::new("set-option").args(["-s", "-u", GUARD]),
            Cmd::new("if-shell").args(["-F", &changed, &format!("set-option -s {GUARD} 1")]),
            Cmd::new("set-option").args(["-s", "-o", GUARD, "1"]),
            Cmd::new("set-option").args(["-s", "-u", GUARD]),
            Cmd::new("set-option").args(["-s", OPTION, &me.render()]),
        ];
        // A failure is the guard (someone registered meanwhile) or a server that went: look
        // again either way.
        let _ = tmux.run(&cas).await;
    }
    Err(Error::failed("could not register the daemon in the tmux server (it kept changing)", None))
}

/// The command that clears this daemon's registration, if the option still holds it (one
/// command; tmux evaluates the condition when it runs it).
pub fn release(registration: &Registration) -> Cmd {
    Cmd::new("if-shell").args(["-F", &registration.still_mine(), &format!("set-option -s -u {OPTION}")])
}

/// The supervisor's "ready" pipe, taken from the environment by [`adopt_ready_fd`] (-1: none).
static READY_FD: AtomicI32 = AtomicI32::new(-1);

/// Takes the supervisor's "ready" descriptor from [`crate::supervise::READY_FD_ENV`] before
/// anything else runs: marks it close-on-exec (no child of the daemon holds it) and removes the
/// variable (no child sees it). Call while the process has one thread.
pub fn adopt_ready_fd() {
    let Some(fd) = std::env::var(crate::supervise::READY_FD_ENV).ok().and_then(|v| v.parse::<i32>().ok()) else {
        return;
    };
    // SAFETY: the process has one thread (the caller's promise), so nothing reads the
    // environment meanwhile; fcntl(2) on a descriptor number touches no memory.
    unsafe {
        std::env::remove_var(crate::supervise::READY_FD_ENV);
        if fd > 2 && libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) == 0 {
            READY_FD.store(fd, Ordering::SeqCst);
        }
    }
}

/// The supervisor's pid when this daemon runs under one.
pub fn supervisor() -> Option<u32> {
    // SAFETY: getppid(2) cannot fail.
    (READY_FD.load(Ordering::SeqCst) >= 0 || MINE.get().is_some_and(|m| m.supervisor.is_some()))
        .then(|| unsafe { libc::getppid() } as u32)
        .filter(|p| *p > 1)
}

/// Tells the supervisor this daemon is registered and listening (once; a no-op unsupervised).
pub fn notify_ready() {
    let fd = READY_FD.swap(-1, Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: one byte from a local to a descriptor we own, then closed.
        unsafe {
            libc::write(fd, b"r".as_ptr().cast(), 1);
            libc::close(fd);
        }
    }
}

/// Resolves when the daemon is asked to stop by a signal (SIGTERM, SIGINT, SIGHUP): it then
/// stops as `daemon stop` makes it (logs flushed, registration cleared, exit 0), and its
/// supervisor does not start it again.
pub async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
    else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = hup.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_round_trips_and_garbage_is_none() {
        let r = Registration {
            pid: 42,
            start: 99,
            supervisor: Some(41),
            socket: PathBuf::from("/run/user/1000/ctmux dir/L-x.sock"),
        };
        assert_eq!(Registration::parse(&r.render()), Some(r.clone()));
        assert_eq!(Registration::parse(&format!("{}\n", r.render())), Some(r));
        let unsupervised = "pid=7 start=8 supervisor=- socket=/tmp/ctmux-0/default.sock";
        assert_eq!(Registration::parse(unsupervised).unwrap().supervisor, None);
        for bad in ["", "7 /tmp/x", "pid=x start=8 supervisor=- socket=/s", "pid=7 start=8 socket=/s"] {
            assert_eq!(Registration::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn this_process_is_alive_only_with_its_own_start_time_and_arguments() {
        let me = std::process::id();
        let start = start_ticks(me).unwrap();
        let r = Registration { pid: me, start, supervisor: None, socket: PathBuf::from("/x") };
        // The test binary is not a `ctmux daemon run`.
        assert!(!r.alive());
        assert!(is_daemon(&["ctmux".into(), "-L".into(), "x".into(), "daemon".into(), "run".into()]));
        assert!(!Registration { start: start + 1, ..r }.alive());
    }
}
