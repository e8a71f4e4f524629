//! The log sink: what tmux's `pipe-pane` runs for each managed pane. It reads the pane's output
//! on stdin (a socket tmux writes every byte the pane's process writes to, in order) and appends
//! it to the pane's log as `<unix ms>\t<raw line>\n`; a piece of an unfinished line that reaches
//! [`LINE_MAX`] is written as `<unix ms>+\t<piece>\n` ("continued on the next line").
//!
//! It promises, for as long as tmux keeps the pipe open (the daemon may be dead meanwhile):
//! every byte read is in the log once and in order; each chunk read is written with one
//! `write(2)` before the next read (no buffering beyond an unfinished line); an unfinished last
//! line is written when the input ends, or once the pane's process has exited and nothing more
//! arrived for [`SETTLE_MS`] (tmux keeps a dead pane's pipe open, so EOF may never come); the
//! log rotates to `<pane>.log.1` past its size limit. Two sinks of one pane (a respawn starts a
//! new one while the old one may still be draining) never interleave: each holds an exclusive
//! `flock` on the log for its life and takes it before it reads anything.
//!
//! Memory is bounded and small: one 64 KiB read buffer, an output buffer reused, the unfinished
//! line up to 1 MiB. Only std and libc, so the `ctmux-sink` binary stays tiny (100 panes run
//! 100 sinks).

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The longest line kept whole (1 MiB): a longer one is logged in pieces of this size, each but
/// the last marked continued.
pub const LINE_MAX: usize = 1 << 20;

/// How long after the pane's process exited, with nothing more to read, the unfinished last
/// line is written out.
pub const SETTLE_MS: i32 = 50;

/// The default rotation size (64 MiB), when ctmux passes none.
pub const DEFAULT_MAX: u64 = 64 * 1024 * 1024;

/// The directory name for one tmux server's logs: its socket path made into one safe path
/// component (`/tmp/tmux-0/default` → `tmp_tmux-0_default`), so the same project on two
/// servers never shares a log.
pub fn server_name(socket_path: &str) -> String {
    let name: String = socket_path
        .trim_start_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .collect();
    match name.trim_matches('.') {
        "" => "_".into(),
        _ => name,
    }
}

/// The log file of `rel` (`project/session/pane.log`) for the server at `socket_path`.
pub fn log_path(root: &Path, socket_path: &str, rel: &str) -> PathBuf {
    root.join(server_name(socket_path)).join(rel)
}

/// What the sink is told on its command line.
#[derive(Debug, PartialEq, Eq)]
pub struct Args {
    /// The logs root (`$STATE/logs`).
    pub root: PathBuf,
    /// tmux's `#{socket_path}`.
    pub socket: String,
    /// `project/session/pane.log`.
    pub rel: String,
    /// Rotation size in bytes.
    pub max: u64,
    /// The pane's process (`#{pane_pid}`): its exit lets an unfinished last line out.
    pub pid: Option<i32>,
}

impl Args {
    /// Parses `ROOT SOCKET REL MAX PID` (what [`command_args`] writes).
    pub fn parse(args: &[OsString]) -> Option<Args> {
        let [root, socket, rel, max, pid] = args else { return None };
        Some(Args {
            root: PathBuf::from(root),
            socket: socket.to_string_lossy().into_owned(),
            rel: rel.to_string_lossy().into_owned(),
            max: max.to_str()?.parse().ok()?,
            pid: pid.to_str().and_then(|p| p.parse().ok()).filter(|p| *p > 0),
        })
    }
}

/// The sink's arguments for a pane logged at `rel` under `root`: tmux expands the formats.
pub fn command_args(root: &Path, rel: &str, max: u64) -> Vec<String> {
    vec![
        root.to_string_lossy().into_owned(),
        "#{socket_path}".into(),
        rel.to_string(),
        max.to_string(),
        "#{pane_pid}".into(),
    ]
}

/// Runs the sink on stdin; returns the exit code.
pub fn main(args: &[OsString]) -> i32 {
    let Some(args) = Args::parse(args) else {
        eprintln!("usage: ctmux-sink ROOT SOCKET_PATH PROJECT/SESSION/PANE.log MAX_BYTES PANE_PID");
        return 2;
    };
    let path = log_path(&args.root, &args.socket, &args.rel);
    match run(0, &path, args.max, args.pid) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ctmux-sink: {}: {e}", path.display());
            1
        }
    }
}

/// Opens `path` for appending (0600, never through a symlink), creating its directories (0700).
fn open_log(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Opens the log and takes its lock, waiting for an earlier sink of the pane to finish. The
/// lock is on the file, so after a rotation by the earlier sink the file is opened again.
fn open_locked(path: &Path) -> std::io::Result<File> {
    loop {
        let f = open_log(path)?;
        // SAFETY: flock on a descriptor we own.
        while unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let mine = f.metadata()?.ino();
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.ino() == mine => return Ok(f),
            _ => continue, // rotated (or removed) while we waited: the lock is on an old file
        }
    }
}

/// Writes all of `buf` (one `write(2)` unless the kernel takes less).
fn write_all(fd: i32, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: writing from a live slice.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Turns bytes read into log records, keeping the unfinished line.
#[derive(Default)]
pub struct Framer {
    partial: Vec<u8>,
    out: Vec<u8>,
}

impl Framer {
    /// Frames `bytes` read at `ms`; returns the records to append (possibly empty).
    pub fn push(&mut self, ms: u64, bytes: &[u8]) -> &[u8] {
        self.out.clear();
        let mut rest = bytes;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            self.extend(ms, &rest[..nl]);
            self.record(ms, false, None);
            rest = &rest[nl + 1..];
        }
        self.extend(ms, rest);
        &self.out
    }

    /// The unfinished line as a record (taking it); empty when there is none.
    pub fn finish(&mut self, ms: u64) -> &[u8] {
        self.out.clear();
        if !self.partial.is_empty() {
            self.record(ms, false, None);
        }
        &self.out
    }

    /// Whether an unfinished line is held.
    pub fn pending(&self) -> bool {
        !self.partial.is_empty()
    }

    fn extend(&mut self, ms: u64, mut bytes: &[u8]) {
        while self.partial.len() + bytes.len() >= LINE_MAX {
            let take = LINE_MAX - self.partial.len();
            self.record(ms, true, Some(&bytes[..take]));
            bytes = &bytes[take..];
        }
        self.partial.extend_from_slice(bytes);
    }

    /// Appends the record of the held line (plus `more`), `continued` marking a piece.
    fn record(&mut self, ms: u64, continued: bool, more: Option<&[u8]>) {
        use std::io::Write;
        let _ = write!(self.out, "{ms}{}\t", if continued { "+" } else { "" });
        self.out.extend_from_slice(&self.partial);
        if let Some(more) = more {
            self.out.extend_from_slice(more);
        }
        self.out.push(b'\n');
        self.partial.clear();
        if self.partial.capacity() > 1 << 16 {
            self.partial.shrink_to(1 << 12);
        }
    }
}

/// The log being appended to, rotated past `max` bytes.
struct Log {
    path: PathBuf,
    file: File,
    size: u64,
    max: u64,
}

impl Log {
    fn append(&mut self, records: &[u8]) -> std::io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        write_all(self.file.as_raw_fd(), records)?;
        self.size += records.len() as u64;
        if self.size > self.max {
            // Renamed while we hold its lock: a sink waiting for it then finds a new file.
            let mut rotated = self.path.as_os_str().to_owned();
            rotated.push(".1");
            std::fs::rename(&self.path, PathBuf::from(rotated))?;
            self.file = open_locked(&self.path)?;
            self.size = self.file.metadata()?.len();
        }
        Ok(())
    }
}

/// Opens a pidfd for `pid` (None when the kernel or the pid says no).
fn pidfd(pid: i32) -> Option<i32> {
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    (fd >= 0).then_some(fd)
}

/// Copies `input` (a descriptor) to the log at `path` until EOF.
pub fn run(input: i32, path: &Path, max: u64, pid: Option<i32>) -> std::io::Result<()> {
    let file = open_locked(path)?;
    let size = file.metadata()?.len();
    let mut log = Log { path: path.to_path_buf(), file, size, max: max.max(4096) };
    let mut framer = Framer::default();
    let mut buf = vec![0u8; 1 << 16];
    let mut exited = pid.and_then(pidfd);
    let mut settled = false;
    loop {
        // After the process exited, the unfinished line goes out once input settles.
        let mut fds = [
            libc::pollfd { fd: input, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: exited.unwrap_or(-1), events: libc::POLLIN, revents: 0 },
        ];
        let timeout = if exited.is_none() && pid.is_some() && framer.pending() && !settled { SETTLE_MS } else { -1 };
        // SAFETY: polling descriptors we own, in a live array.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            log.append(framer.finish(now_ms()))?;
            settled = true;
            continue;
        }
        if fds[1].revents != 0 {
            if let Some(fd) = exited.take() {
                // SAFETY: closing the pidfd we opened.
                unsafe { libc::close(fd) };
            }
            continue;
        }
        if fds[0].revents == 0 {
            continue;
        }
        // SAFETY: reading into a live buffer of its length.
        let got = unsafe { libc::read(input, buf.as_mut_ptr().cast(), buf.len()) };
        if got < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted || e.kind() == std::io::ErrorKind::WouldBlock {
                continue;
            }
            return Err(e);
        }
        if got == 0 {
            return log.append(framer.finish(now_ms()));
        }
        settled = false;
        log.append(framer.push(now_ms(), &buf[..got as usize]))?;
    }
}

/// Whether argv asks for the sink mode of the `ctmux` binary (`ctmux __sink …`).
pub fn requested(args: &[OsString]) -> bool {
    args.get(1).is_some_and(|a| a.as_bytes() == SUBCOMMAND.as_bytes())
}

/// The hidden `ctmux` subcommand that runs the sink when no `ctmux-sink` sits beside `ctmux`.
pub const SUBCOMMAND: &str = "__sink";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_lines_pieces_and_an_unfinished_last_line() {
        let mut f = Framer::default();
        assert_eq!(f.push(5, b"a\r\nb\nc"), b"5\ta\r\n5\tb\n");
        assert!(f.pending());
        assert_eq!(f.push(6, b"d\n"), b"6\tcd\n");
        assert_eq!(f.finish(7), b"");
        f.push(8, b"tail");
        assert_eq!(f.finish(9), b"9\ttail\n");
        let long = vec![b'x'; LINE_MAX + 10];
        let out = f.push(1, &long).to_vec();
        assert_eq!(out.len(), "1+\t".len() + LINE_MAX + 1);
        assert!(out.starts_with(b"1+\txxx"));
        assert_eq!(f.finish(2).len(), "2\t".len() + 10 + 1);
    }

    #[test]
    fn server_names_are_one_safe_component() {
        assert_eq!(server_name("/tmp/tmux-0/default"), "tmp_tmux-0_default");
        assert_eq!(server_name("/x/../y z"), "x_.._y_z");
        assert_eq!(server_name(".."), "_");
        assert!(!server_name("/a/b").contains('/'));
    }

    #[test]
    fn copies_to_the_log_in_order_and_a_second_sink_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/p.log");
        let (mut w1, r1) = std::os::unix::net::UnixStream::pair().unwrap();
        let (mut w2, r2) = std::os::unix::net::UnixStream::pair().unwrap();
        let p1 = path.clone();
        let first = std::thread::spawn(move || run(r1.as_raw_fd(), &p1, DEFAULT_MAX, None).map(|_| drop(r1)));
        std::thread::sleep(std::time::Duration::from_millis(100));
        let p2 = path.clone();
        let second = std::thread::spawn(move || run(r2.as_raw_fd(), &p2, DEFAULT_MAX, None).map(|_| drop(r2)));
        use std::io::Write;
        w2.write_all(b"second\n").unwrap();
        drop(w2);
        std::thread::sleep(std::time::Duration::from_millis(100));
        w1.write_all(b"one\ntwo-unfinished").unwrap();
        drop(w1);
        first.join().unwrap().unwrap();
        second.join().unwrap().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().map(|l| l.split_once('\t').unwrap().1).collect();
        assert_eq!(lines, ["one", "two-unfinished", "second"]);
    }

    #[test]
    fn rotates_past_the_limit_and_refuses_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.log");
        let (mut w, r) = std::os::unix::net::UnixStream::pair().unwrap();
        let p = path.clone();
        let t = std::thread::spawn(move || run(r.as_raw_fd(), &p, 4096, None).map(|_| drop(r)));
        use std::io::Write;
        for i in 0..1000 {
            writeln!(w, "line {i}").unwrap();
        }
        drop(w);
        t.join().unwrap().unwrap();
        let old = std::fs::read_to_string(dir.path().join("p.log.1")).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(new.len() <= 4096 + 64, "{}", new.len());
        assert!(new.ends_with("\tline 999\n"));
        assert!(old.contains("\tline "));
        let link = dir.path().join("l.log");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &link).unwrap();
        assert!(open_log(&link).is_err());
    }
}
