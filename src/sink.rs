//! The log sink: what tmux's `pipe-pane` runs for each managed pane. It reads the pane's output
//! on stdin (a socket tmux writes every byte the pane's process writes to, in order) and appends
//! it to the pane's log as `<unix ms>\t<raw line>\n` (the terminal's CR before LF dropped); a piece of an unfinished line that reaches
//! [`LINE_MAX`] is written as `<unix ms>+\t<piece>\n` ("continued on the next line").
//!
//! It promises, for as long as tmux keeps the pipe open (the daemon may be dead meanwhile):
//! every byte read is in the log once and in order; each chunk read is written with one
//! `write(2)` before the next read (no buffering beyond an unfinished line); an unfinished last
//! line is written when the input ends, or — as a piece marked continued, `<ms>+` — once the
//! pane's process has exited and nothing more arrived for [`SETTLE_MS`] (tmux keeps a dead
//! pane's pipe open, so EOF may never come); the
//! log rotates to `<pane>.log.1` past its size limit. Two sinks of one pane (a respawn starts a
//! new one while the old one may still be draining) never interleave: each holds an exclusive
//! `flock` on the log for its life and takes it before it reads anything.
//!
//! Memory is bounded and small: one 64 KiB read buffer, an output buffer reused, the unfinished
//! line up to 1 MiB. Only std and libc, so the `ctmux-sink` binary stays tiny (100 panes run
//! 100 sinks). What a sink holds is what an idle one costs, times the panes: the read buffer is
//! an anonymous mapping the kernel fills only where a read writes (never zeroed by us), and
//! after [`IDLE_MS`] without input the pages a burst touched, the grown output buffer and the
//! freed heap are handed back, so a pane that printed a burst and went
//! quiet costs what one that never printed does.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The longest line kept whole (1 MiB): a longer one is logged in pieces of this size, each but
/// the last marked continued.
pub const LINE_MAX: usize = 1 << 20;

/// How long after the pane's process exited, with nothing more to read, the unfinished last
/// line is written out (as a piece marked continued: a busy tmux may still deliver more of it).
pub const SETTLE_MS: i32 = 1000;

/// How long a sink waits without input before it hands back the memory a burst used.
pub const IDLE_MS: i32 = 1000;

/// The size of the read buffer: the most one read (and so one log `write(2)`) carries.
const READ_MAX: usize = 1 << 16;

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

/// The mark a wrapped command's runner ([`run_wrapped`]) writes to the pane after the command
/// exited: an OSC sequence tmux ignores on screen. The sink drops it from the log, writes the
/// unfinished last line, and answers with SIGUSR1 (see [`run_wrapped`]).
pub const DONE: &[u8] = b"\x1b]7777;ctmux-done\x07";

/// How long a wrapped command's runner waits for the sink's answer before it exits anyway (a
/// pane whose sink is gone).
pub const DONE_WAIT_MS: i64 = 2000;

/// The flag that makes the sink binary run a pane's command instead ([`run_wrapped`]).
pub const RUN: &str = "--run";

/// The variable that carries a wrapped command to the runner (out of its argv, which every
/// local user can read for the pane's whole life; a process's environment only its owner).
pub const RUN_ENV: &str = "CTMUX_RUN_ARGV";

/// `argv` as one environment value: each argument as `<byte length>:<bytes>`.
pub fn encode_argv(argv: &[String]) -> String {
    argv.iter().map(|a| format!("{}:{a}", a.len())).collect()
}

/// The arguments [`encode_argv`] wrote; `None` when `raw` is not such a value (a round trip is
/// tested in `tests`).
pub fn decode_argv(mut raw: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !raw.is_empty() {
        let colon = raw.iter().position(|b| *b == b':')?;
        let len: usize = std::str::from_utf8(&raw[..colon]).ok()?.parse().ok()?;
        let rest = &raw[colon + 1..];
        out.push(rest.get(..len)?.to_vec());
        raw = &rest[len..];
    }
    Some(out)
}

/// Runs the sink on stdin, or with [`RUN`] a pane's command; returns the exit code.
pub fn main(args: &[OsString]) -> i32 {
    if args.first().is_some_and(|a| a.as_bytes() == RUN.as_bytes()) {
        return run_wrapped(&args[1..]);
    }
    let Some(args) = Args::parse(args) else {
        eprintln!("usage: ctmux-sink ROOT SOCKET_PATH PROJECT/SESSION/PANE.log MAX_BYTES PANE_PID");
        return 2;
    };
    let path = log_path(&args.root, &args.socket, &args.rel);
    // Beneath the state directory: the `logs` directory itself must not be a link either.
    let _ = ROOT.set(args.root.parent().unwrap_or(&args.root).to_path_buf());
    match run(0, &path, args.max, args.pid) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ctmux-sink: {}: {e}", path.display());
            1
        }
    }
}

/// The state directory the sink's log lies beneath (the parent of its first argument, the logs
/// root), once known.
static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Opens `path` for appending (0600, never through a symlink), creating its directories (0700):
/// beneath [`ROOT`] each directory is opened with `O_NOFOLLOW`, so a planted directory symlink
/// (`logs/<server>/p -> /tmp/victim`) is refused, not written through.
fn open_log(path: &Path) -> std::io::Result<File> {
    if let Some(root) = ROOT.get()
        && let Ok(rel) = path.strip_prefix(root)
    {
        return open_beneath(root, rel);
    }
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

/// [`open_log`] one component at a time from `root`, following no symlink below it.
fn open_beneath(root: &Path, rel: &Path) -> std::io::Result<File> {
    use std::ffi::CString;
    use std::os::fd::FromRawFd;
    let names: Vec<CString> = rel
        .components()
        .map(|c| CString::new(c.as_os_str().as_bytes()).map_err(|_| std::io::ErrorKind::InvalidInput.into()))
        .collect::<std::io::Result<_>>()?;
    let Some((file, dirs)) = names.split_last() else { return Err(std::io::ErrorKind::InvalidInput.into()) };
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(root)?;
    }
    let mut dir = File::open(root)?;
    for name in dirs {
        // SAFETY: a descriptor we own and a NUL-terminated name.
        unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o700) };
        // SAFETY: as above; the new descriptor is owned by the File.
        let fd = unsafe {
            libc::openat(dir.as_raw_fd(), name.as_ptr(), libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        dir = unsafe { File::from_raw_fd(fd) };
    }
    // SAFETY: as above.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            file.as_ptr(),
            libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600 as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is fresh and ours.
    Ok(unsafe { File::from_raw_fd(fd) })
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

/// Turns bytes read into log records, keeping the unfinished line; finds [`DONE`] marks.
#[derive(Default)]
pub struct Framer {
    partial: Vec<u8>,
    out: Vec<u8>,
    /// Input held while it may be the start of a mark.
    held: Vec<u8>,
    /// What [`Framer::push_marked`] returns, kept for the next read.
    records: Vec<u8>,
}

impl Framer {
    /// Frames `bytes` read at `ms`, with [`DONE`] marks taken out; returns the records to
    /// append (possibly empty) and whether a mark was seen (the unfinished line is then
    /// written as a line: the command's output ended). The records' buffer is reused from
    /// read to read (no allocation per read once it has grown).
    pub fn push_marked(&mut self, ms: u64, bytes: &[u8]) -> (&[u8], bool) {
        let mut records = std::mem::take(&mut self.records);
        records.clear();
        let held = std::mem::take(&mut self.held);
        let joined;
        let data: &[u8] = if held.is_empty() {
            bytes
        } else {
            joined = [held.as_slice(), bytes].concat();
            &joined
        };
        let mut done = false;
        let mut rest = data;
        while let Some(at) = find(rest, DONE) {
            records.extend_from_slice(self.push(ms, &rest[..at]));
            records.extend_from_slice(self.finish(ms, false));
            done = true;
            rest = &rest[at + DONE.len()..];
        }
        // A tail that may be the start of a mark waits for the next read.
        let keep = (1..DONE.len().min(rest.len() + 1)).rev().find(|n| rest.ends_with(&DONE[..*n])).unwrap_or(0);
        self.held.extend_from_slice(&rest[rest.len() - keep..]);
        records.extend_from_slice(self.push(ms, &rest[..rest.len() - keep]));
        self.records = records;
        (&self.records, done)
    }

    /// Frames `bytes` read at `ms`; returns the records to append (possibly empty).
    pub fn push(&mut self, ms: u64, bytes: &[u8]) -> &[u8] {
        self.out.clear();
        let mut rest = bytes;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            self.extend(ms, &rest[..nl]);
            // A terminal's line end is CR LF: the line is what comes before.
            if self.partial.last() == Some(&b'\r') {
                self.partial.pop();
            }
            self.record(ms, false, None);
            rest = &rest[nl + 1..];
        }
        self.extend(ms, rest);
        &self.out
    }

    /// The unfinished line as a record (taking it); empty when there is none. `continued`
    /// marks it as a piece more may follow.
    pub fn finish(&mut self, ms: u64, continued: bool) -> &[u8] {
        self.out.clear();
        if !self.partial.is_empty() {
            self.record(ms, continued, None);
        }
        &self.out
    }

    /// Whether an unfinished line is held.
    pub fn pending(&self) -> bool {
        !self.partial.is_empty() || !self.held.is_empty()
    }

    /// Frees the output buffer and shrinks the held line to its length (after a burst: the
    /// buffers grew to the largest read's records; an idle sink needs none of that).
    pub fn shrink(&mut self) {
        self.out = Vec::new();
        self.records = Vec::new();
        self.partial.shrink_to_fit();
        self.held.shrink_to_fit();
    }

    /// Input held as a possible mark start, as output after all (at the end of input).
    pub fn release(&mut self, ms: u64) -> Vec<u8> {
        let held = std::mem::take(&mut self.held);
        let mut records = self.push(ms, &held).to_vec();
        records.extend_from_slice(self.finish(ms, false));
        records
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

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
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

/// The read buffer: an anonymous private mapping, so its pages cost memory only once a read
/// has written into them, and an idle sink can give them back without unmapping.
struct ReadBuf {
    ptr: *mut u8,
    len: usize,
    /// Whether a read may have touched pages since the last release.
    touched: bool,
}

impl ReadBuf {
    fn new(len: usize) -> std::io::Result<ReadBuf> {
        // SAFETY: a fresh anonymous mapping; checked for failure below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(ReadBuf { ptr: ptr.cast(), len, touched: false })
    }

    /// One `read(2)` of `fd` into the buffer: the bytes read (empty at EOF).
    fn read(&mut self, fd: i32) -> std::io::Result<&[u8]> {
        self.touched = true;
        // SAFETY: reading into our mapping of `len` bytes.
        let got = unsafe { libc::read(fd, self.ptr.cast(), self.len) };
        if got < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the kernel wrote `got` bytes at `ptr`, inside the mapping.
        Ok(unsafe { std::slice::from_raw_parts(self.ptr, got as usize) })
    }

    /// Hands the pages back to the kernel (they read as zeros and cost nothing until written).
    fn release(&mut self) {
        if self.touched {
            // SAFETY: advising our own mapping; its contents are not needed.
            unsafe { libc::madvise(self.ptr.cast(), self.len, libc::MADV_DONTNEED) };
            self.touched = false;
        }
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in `new`, not used after this.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Gives back the memory a sink may drop when idle: the read buffer's pages, the framer's
/// grown buffers, and the heap they were freed to.
fn give_back(buf: &mut ReadBuf, framer: &mut Framer) {
    buf.release();
    framer.shrink();
    #[cfg(target_env = "gnu")]
    // SAFETY: glibc's malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
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
    let mut buf = ReadBuf::new(READ_MAX)?;
    let mut exited = pid.and_then(pidfd);
    let mut settled = false;
    // Whether memory a burst used is still held (given back after IDLE_MS without input).
    let mut busy = false;
    loop {
        // After the process exited, the unfinished line goes out once input settles.
        let mut fds = [
            libc::pollfd { fd: input, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: exited.unwrap_or(-1), events: libc::POLLIN, revents: 0 },
        ];
        let settle = exited.is_none() && pid.is_some() && framer.pending() && !settled;
        // Settling the last line takes precedence; memory is given back at the same timeout.
        let timeout = if settle {
            SETTLE_MS
        } else if busy {
            IDLE_MS
        } else {
            -1
        };
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
            if settle {
                log.append(framer.finish(now_ms(), true))?;
                settled = true;
            }
            if busy {
                give_back(&mut buf, &mut framer);
                busy = false;
            }
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
        let got = match buf.read(input) {
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted || e.kind() == std::io::ErrorKind::WouldBlock => {
                continue;
            }
            Err(e) => return Err(e),
        };
        if got.is_empty() {
            return log.append(&framer.release(now_ms()));
        }
        settled = false;
        busy = true;
        let (records, done) = framer.push_marked(now_ms(), got);
        log.append(records)?;
        if done && let Some(pid) = pid {
            // Every byte the command wrote is logged: its runner may exit now.
            // SAFETY: kill(2) with a pid and a signal number.
            unsafe { libc::kill(pid, libc::SIGUSR1) };
        }
    }
}

/// Signals the runner passes on to the command's process group.
const FORWARDED: [libc::c_int; 6] =
    [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGUSR1, libc::SIGUSR2];

/// The pane's child, for the signal handler that forwards signals to its process group.
static CHILD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let child = CHILD.load(std::sync::atomic::Ordering::SeqCst);
    if child > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(-child, sig) };
    }
}

/// Runs a pane's command (`argv`) as the pane's process and exits with its status, after its
/// output has reached the log. tmux 3.3a destroys a pane whose process it has reaped once its
/// pty shows nothing to read (FIONREAD), but the kernel may still hold output in the tty's
/// flip buffer (measured: 1–2 of 20 panes printing 5,000 lines and exiting lost their last
/// 1,400–2,100 lines). So the command runs as a child, in its own process group in the
/// terminal's foreground (as a shell runs a job: `pane_current_command`, Ctrl-C and job control
/// behave as before), and when it has exited this process writes [`DONE`] and waits — for the
/// sink's SIGUSR1 (everything before the mark was read by tmux and logged), at most
/// [`DONE_WAIT_MS`] — before it exits with the child's exit code, or dies of the child's signal.
/// The signals in [`FORWARDED`] sent to it are passed to the child's process group (the pane's
/// pid is this process: `kill -USR1 <pane pid>` still reaches the command).
pub fn run_wrapped(argv: &[OsString]) -> i32 {
    use std::ffi::CString;
    let mut argv: Vec<OsString> = argv.iter().skip_while(|a| a.as_bytes() == b"--").cloned().collect();
    // The command comes in the environment (see `tmux::pipe::wrapped`), never left to the child.
    if argv.is_empty()
        && let Some(carried) = std::env::var_os(RUN_ENV)
    {
        // SAFETY: single-threaded here (nothing has been spawned yet).
        unsafe { std::env::remove_var(RUN_ENV) };
        match decode_argv(carried.as_bytes()) {
            Some(decoded) => argv = decoded.into_iter().map(OsString::from_vec).collect(),
            None => {
                eprintln!("ctmux-sink: {RUN_ENV} is malformed");
                return 2;
            }
        }
    }
    let Some(args) = argv.iter().map(|a| CString::new(a.as_bytes()).ok()).collect::<Option<Vec<CString>>>() else {
        eprintln!("ctmux-sink: an argument holds a NUL byte");
        return 127;
    };
    if args.is_empty() {
        eprintln!("usage: ctmux-sink --run -- COMMAND [ARG...]");
        return 2;
    }
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: plain libc process control; the child only calls async-signal-safe functions
    // between fork and exec.
    unsafe {
        let mut usr1: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut usr1);
        libc::sigaddset(&mut usr1, libc::SIGUSR1);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, &usr1, &mut old);
        let tty = libc::isatty(0) == 1;
        libc::signal(libc::SIGTTOU, libc::SIG_IGN);
        let child = libc::fork();
        if child < 0 {
            return 127;
        }
        if child == 0 {
            libc::setpgid(0, 0);
            if tty {
                libc::tcsetpgrp(0, libc::getpid());
            }
            libc::signal(libc::SIGTTOU, libc::SIG_DFL);
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            libc::execvp(ptrs[0], ptrs.as_ptr());
            libc::_exit(127);
        }
        libc::setpgid(child, child);
        if tty {
            libc::tcsetpgrp(0, child);
        }
        CHILD.store(child, std::sync::atomic::Ordering::SeqCst);
        for sig in FORWARDED {
            libc::signal(sig, forward as *const () as libc::sighandler_t);
        }
        // The pane's pid is ours: a SIGUSR1 sent to it is the command's until it exits.
        libc::sigprocmask(libc::SIG_UNBLOCK, &usr1, std::ptr::null_mut());
        let mut status = 0;
        while libc::waitpid(child, &mut status, 0) < 0 {
            if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                break;
            }
        }
        libc::sigprocmask(libc::SIG_BLOCK, &usr1, std::ptr::null_mut());
        libc::signal(libc::SIGUSR1, libc::SIG_DFL);
        if tty {
            libc::tcsetpgrp(0, libc::getpgrp());
        }
        // A stale SIGUSR1 (a mark the command printed itself) is not the answer.
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        while libc::sigtimedwait(&usr1, std::ptr::null_mut(), &zero) > 0 {}
        if write_all(1, DONE).is_ok() {
            let wait = libc::timespec { tv_sec: DONE_WAIT_MS / 1000, tv_nsec: (DONE_WAIT_MS % 1000) * 1_000_000 };
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(DONE_WAIT_MS as u64);
            while libc::sigtimedwait(&usr1, std::ptr::null_mut(), &wait) < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                && std::time::Instant::now() < deadline
            {}
        }
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            libc::signal(sig, libc::SIG_DFL);
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            let mut only: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut only);
            libc::sigaddset(&mut only, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &only, std::ptr::null_mut());
            libc::kill(libc::getpid(), sig);
            return 128 + sig;
        }
        if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 127 }
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

    #[test]
    fn a_carried_command_reads_back_exactly() {
        let argv: Vec<String> = ["sh", "-c", "echo 'a:b' 12:x; ü", "", "3:"].map(String::from).to_vec();
        let back = super::decode_argv(super::encode_argv(&argv).as_bytes()).unwrap();
        assert_eq!(back, argv.iter().map(|a| a.as_bytes().to_vec()).collect::<Vec<_>>());
        assert_eq!(super::decode_argv(b"5:ab"), None);
    }

    use super::*;

    #[test]
    fn frames_lines_pieces_and_an_unfinished_last_line() {
        let mut f = Framer::default();
        assert_eq!(f.push(5, b"a\r\nb\nc"), b"5\ta\n5\tb\n");
        assert!(f.pending());
        assert_eq!(f.push(6, b"d\n"), b"6\tcd\n");
        assert_eq!(f.finish(7, false), b"");
        f.push(8, b"tail");
        assert_eq!(f.finish(9, false), b"9\ttail\n");
        f.push(8, b"piece");
        assert_eq!(f.finish(9, true), b"9+\tpiece\n");
        let long = vec![b'x'; LINE_MAX + 10];
        let out = f.push(1, &long).to_vec();
        assert_eq!(out.len(), "1+\t".len() + LINE_MAX + 1);
        assert!(out.starts_with(b"1+\txxx"));
        assert_eq!(f.finish(2, false).len(), "2\t".len() + 10 + 1);
    }

    #[test]
    fn marks_split_across_reads_are_found_and_a_false_start_is_output() {
        let mut f = Framer::default();
        let (half, rest) = DONE.split_at(5);
        let mut input = b"a\nlast".to_vec();
        input.extend_from_slice(half);
        let (out, done) = f.push_marked(1, &input);
        assert_eq!((out.to_vec(), done), (b"1\ta\n".to_vec(), false));
        let mut more = rest.to_vec();
        more.extend_from_slice(b"next\n\x1b]77x\n");
        let (out, done) = f.push_marked(2, &more);
        assert_eq!(String::from_utf8_lossy(out), "2\tlast\n2\tnext\n2\t\x1b]77x\n");
        assert!(done);
        // A held start that is not a mark after all is written at the end of input.
        let (out, done) = f.push_marked(3, b"z\x1b]77");
        assert_eq!((out.to_vec(), done), (Vec::new(), false));
        assert_eq!(String::from_utf8_lossy(&f.release(4)), "4\tz\x1b]77\n");
        f.shrink();
        assert!(!f.pending());
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
        // The last line ends the live file — or the rotated one, when the write that carried
        // it was the one that crossed the limit (reads split the input as they come).
        let last = if new.is_empty() { &old } else { &new };
        assert!(last.ends_with("\tline 999\n"), "{last}");
        assert!(old.contains("\tline "));
        let link = dir.path().join("l.log");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &link).unwrap();
        assert!(open_log(&link).is_err());
    }
}
