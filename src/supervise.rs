//! The daemon's supervisor: a small process that runs `ctmux … daemon run` as its child and
//! starts it again when it dies by a signal (SIGKILL, a crash) or exits with a code that is not
//! one of ctmux's own (a panic's 101), so a killed daemon is back at once without a command.
//!
//! It promises: one child at a time; no restart after a deliberate exit (ctmux's exit codes
//! 0–6: `daemon stop`, the tmux server gone, a refusal because another daemon serves the
//! server); a crash loop never spins (a daemon that dies before it says it is ready waits
//! 0.5 s doubling to 30 s, and after 10 such deaths in a row the supervisor gives up; one that
//! was ready restarts at once, but past 10 restarts within a minute it waits 1 s
//! doubling to 30 s); SIGTERM, SIGINT or SIGHUP to the supervisor is passed to the daemon as
//! SIGTERM (a clean stop), and the supervisor exits with it.
//!
//! The daemon says it is ready (registered and listening) by writing a byte to a pipe whose
//! descriptor it finds in [`READY_FD_ENV`]. This file uses only `std` and `libc`: it is built
//! both into the small `ctmux-supervise` binary (about 0.3 MB resident, where a `ctmux` process
//! costs 2.6 MB of relocated pages before it does anything) and into `ctmux` itself, which runs
//! it when invoked as `ctmux __supervise …` (the fallback when the small binary is not beside
//! `ctmux`, as after `cargo run`).

use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The first argument that makes `ctmux` run as the supervisor (hidden from `--help`).
pub const MODE: &str = "__supervise";

/// The environment variable that gives the daemon the descriptor to write its "ready" byte to.
pub const READY_FD_ENV: &str = "CTMUX_READY_FD";

/// The name of the small supervisor binary, looked for beside `ctmux`.
pub const BINARY: &str = "ctmux-supervise";

/// The daemon being supervised (0: none), for the signal handler.
static CHILD: AtomicI32 = AtomicI32::new(0);
/// A stop was asked for: do not restart.
static STOP: AtomicBool = AtomicBool::new(false);

/// Passes a stop on to the daemon (async-signal-safe: atomics and kill(2) only).
extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
    let child = CHILD.load(Ordering::SeqCst);
    if child > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(child, libc::SIGTERM) };
    }
}

/// What to do after the daemon ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Start it again after this delay.
    Restart(Duration),
    /// It ended on purpose, or crashes too often: exit.
    Exit,
}

/// The restart policy's memory (see the module doc).
#[derive(Debug, Default)]
pub struct Policy {
    /// Deaths in a row before the daemon said it was ready.
    early: u32,
    /// When the daemon was restarted after it had been ready, within the last minute.
    recent: Vec<Instant>,
}

/// Restarts within a minute that go ahead at once.
const FREE_RESTARTS: usize = 10;
/// Early deaths in a row after which the supervisor gives up.
const EARLY_LIMIT: u32 = 10;
/// The longest wait between two starts.
const MAX_DELAY: Duration = Duration::from_secs(30);

impl Policy {
    /// What to do after a daemon that ended with `status` (`None`: killed by a signal, else its
    /// exit code), having said it was ready or not, at `now`.
    pub fn next(&mut self, code: Option<i32>, ready: bool, now: Instant) -> Next {
        if code.is_some_and(|c| (0..=6).contains(&c)) {
            return Next::Exit;
        }
        if !ready {
            self.early += 1;
            if self.early >= EARLY_LIMIT {
                return Next::Exit;
            }
            let delay = Duration::from_millis(500).saturating_mul(1 << (self.early - 1).min(16));
            return Next::Restart(delay.min(MAX_DELAY));
        }
        self.early = 0;
        self.recent.retain(|t| now.duration_since(*t) < Duration::from_secs(60));
        self.recent.push(now);
        let over = self.recent.len().saturating_sub(FREE_RESTARTS);
        if over == 0 {
            return Next::Restart(Duration::ZERO);
        }
        Next::Restart(Duration::from_secs(1).saturating_mul(1 << (over - 1).min(16)).min(MAX_DELAY))
    }
}

/// Runs the supervisor: `args` is the daemon's program and its arguments. Detaches first (a
/// new session, the caller's child exits at once so the caller reaps it), then supervises.
/// Returns the exit code.
pub fn main(args: &[OsString]) -> i32 {
    let Some((program, rest)) = args.split_first() else {
        eprintln!("usage: {BINARY} PROGRAM [ARGS…]");
        return 2;
    };
    // SAFETY: fork(2) in a process with one thread; the child only goes on with this function.
    match unsafe { libc::fork() } {
        -1 => {
            eprintln!("{BINARY}: fork: {}", std::io::Error::last_os_error());
            return 1;
        }
        0 => {}
        _ => return 0,
    }
    // SAFETY: setsid(2) and sigaction(2) with a handler that is async-signal-safe.
    unsafe {
        libc::setsid();
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_stop as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
    let mut policy = Policy::default();
    loop {
        let started = Instant::now();
        let Some((code, ready, pid)) = run_once(program, rest) else { return 1 };
        if STOP.load(Ordering::SeqCst) {
            return 0;
        }
        let how = code.map_or_else(|| "was killed by a signal".to_string(), |c| format!("exited with {c}"));
        match policy.next(code, ready, Instant::now()) {
            Next::Exit if code.is_some_and(|c| (0..=6).contains(&c)) => return 0,
            Next::Exit => {
                eprintln!(
                    "{BINARY}: the daemon (pid {pid}) {how} before it was ready, {EARLY_LIMIT} times in a row: giving up"
                );
                return 1;
            }
            Next::Restart(delay) => {
                eprintln!(
                    "{BINARY}: the daemon (pid {pid}) {how} after {:.1} s; starting it again in {:.1} s",
                    started.elapsed().as_secs_f64(),
                    delay.as_secs_f64()
                );
                std::thread::sleep(delay);
                if STOP.load(Ordering::SeqCst) {
                    return 0;
                }
            }
        }
    }
}

/// Runs the daemon once: `(exit code or None for a signal, whether it said it was ready, its
/// pid)`; `None` when it cannot be started.
fn run_once(program: &OsString, args: &[OsString]) -> Option<(Option<i32>, bool, u32)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) writes two descriptors into `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        eprintln!("{BINARY}: pipe: {}", std::io::Error::last_os_error());
        return None;
    }
    let [read, write] = fds;
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).env(READY_FD_ENV, write.to_string());
    // SAFETY: fcntl(2) and signal(2) are async-signal-safe; the write end stays open across
    // exec in the daemon only, and the daemon gets the default dispositions.
    unsafe {
        cmd.pre_exec(move || {
            if libc::fcntl(write, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
                libc::signal(signal, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    let spawned = cmd.spawn();
    // SAFETY: closing our copy of the write end, which we own.
    unsafe { libc::close(write) };
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            eprintln!("{BINARY}: cannot start {}: {e}", program.to_string_lossy());
            // SAFETY: the read end is ours.
            unsafe { libc::close(read) };
            return None;
        }
    };
    let pid = child.id();
    CHILD.store(pid as i32, Ordering::SeqCst);
    if STOP.load(Ordering::SeqCst) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    }
    // One byte once it is ready; end of file when it dies (or closes the pipe) first.
    let mut byte = 0u8;
    let ready = loop {
        // SAFETY: reads at most one byte into `byte`.
        let n = unsafe { libc::read(read, (&mut byte as *mut u8).cast(), 1) };
        if n >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break n == 1;
        }
    };
    // SAFETY: the read end is ours.
    unsafe { libc::close(read) };
    let status = child.wait();
    CHILD.store(0, Ordering::SeqCst);
    let status = match status {
        Ok(status) => status,
        Err(e) => {
            eprintln!("{BINARY}: waiting for the daemon: {e}");
            return None;
        }
    };
    let code = if status.signal().is_some() { None } else { status.code() };
    Some((code, ready, pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliberate_exits_end_the_supervisor_and_crashes_restart() {
        let now = Instant::now();
        for code in 0..=6 {
            assert_eq!(Policy::default().next(Some(code), true, now), Next::Exit);
        }
        assert_eq!(Policy::default().next(None, true, now), Next::Restart(Duration::ZERO));
        assert_eq!(Policy::default().next(Some(101), true, now), Next::Restart(Duration::ZERO));
    }

    #[test]
    fn a_crash_loop_backs_off_and_gives_up() {
        let now = Instant::now();
        let mut p = Policy::default();
        let delays: Vec<Next> = (0..4).map(|_| p.next(None, false, now)).collect();
        let ms = |m| Next::Restart(Duration::from_millis(m));
        assert_eq!(delays, [ms(500), ms(1000), ms(2000), ms(4000)]);
        for _ in 4..9 {
            assert!(matches!(p.next(None, false, now), Next::Restart(d) if d <= MAX_DELAY));
        }
        assert_eq!(p.next(None, false, now), Next::Exit);
    }

    #[test]
    fn a_ready_daemon_restarts_at_once_until_it_dies_too_often() {
        let now = Instant::now();
        let mut p = Policy::default();
        for _ in 0..FREE_RESTARTS {
            assert_eq!(p.next(None, true, now), Next::Restart(Duration::ZERO));
        }
        assert_eq!(p.next(None, true, now), Next::Restart(Duration::from_secs(1)));
        assert_eq!(p.next(None, true, now), Next::Restart(Duration::from_secs(2)));
        // A minute later the budget is back.
        assert_eq!(p.next(None, true, now + Duration::from_secs(61)), Next::Restart(Duration::ZERO));
    }
}
