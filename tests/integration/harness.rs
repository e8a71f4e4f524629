//! Test fixtures: a private tmux server per test (`tmux -L ctmux-test-…`, `-f /dev/null`), killed
//! on drop even when the test fails, and a project directory with a manifest.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A private tmux server and a project directory; both go away on drop.
pub struct Server {
    /// The `-L` socket name.
    pub name: String,
    /// Project directory holding `ctmux.yaml`.
    pub dir: tempfile::TempDir,
    /// State directory (`CTMUX_STATE_DIR`).
    pub state: tempfile::TempDir,
}

impl Server {
    /// A fresh server name and project directory with `manifest` as `ctmux.yaml`.
    pub fn new(manifest: &str) -> Server {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let server = Server {
            name: format!("ctmux-test-{}-{n}", std::process::id()),
            dir: tempfile::tempdir().expect("tempdir"),
            state: tempfile::tempdir().expect("tempdir"),
        };
        server.write(manifest);
        server
    }

    /// Replaces the manifest.
    pub fn write(&self, manifest: &str) {
        std::fs::write(self.dir.path().join("ctmux.yaml"), manifest).expect("write manifest");
    }

    /// This server's pane log directory (`$STATE/logs/<server>/`).
    pub fn logs(&self) -> PathBuf {
        let socket = ctmux::daemon::paths::socket_file(&ctmux::tmux::Socket::Name(self.name.clone()));
        self.state.path().join("logs").join(ctmux::sink::server_name(&socket))
    }

    /// Path inside the project directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A `ctmux` command on this server, run in the project directory.
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_on(&self.name, args)
    }

    /// A `ctmux` command on tmux server `name` (a [`Sibling`]), with this project directory and
    /// state, as a second server running the same project on one machine.
    pub fn cmd_on(&self, name: &str, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ctmux"));
        c.current_dir(self.dir.path())
            .env("CTMUX_STATE_DIR", self.state.path())
            .env("XDG_RUNTIME_DIR", self.state.path())
            .env("CTMUX_TMUX_CONF", "/dev/null")
            .env_remove("TMUX")
            .env_remove("CTMUX_TMUX_SOCKET")
            .env("NO_COLOR", "1")
            .arg("-L")
            .arg(name)
            .args(args);
        c
    }

    /// A second tmux server name beside this one, killed on drop like this one (even when the
    /// test fails half-way).
    pub fn sibling(&self, suffix: &str) -> Sibling {
        Sibling { name: format!("{}-{suffix}", self.name) }
    }

    pub fn ctmux(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run ctmux")
    }

    /// Runs `ctmux ARGS`, asserting exit code `code`; returns stdout.
    pub fn expect(&self, args: &[&str], code: i32) -> String {
        let out = self.ctmux(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "ctmux {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `tmux -L name ARGS`; returns stdout.
    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-L").arg(&self.name).args(args).output().expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `session/pane address -> (pane id, pid, dead)` of managed panes.
    pub fn panes(&self) -> Vec<(String, String, u32, bool)> {
        self.tmux(&["list-panes", "-a", "-F", "#{@ctmux-id}\t#{pane_id}\t#{pane_pid}\t#{pane_dead}"])
            .lines()
            .filter(|l| !l.starts_with('\t'))
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap_or(0), f[3] == "1")
            })
            .collect()
    }

    /// Status as JSON.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.expect(&["status", "--json"], 0)).expect("status json")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        kill_server(&self.name);
    }
}

/// Another tmux server of a test (see [`Server::sibling`]); killed on drop.
pub struct Sibling {
    /// The `-L` socket name.
    pub name: String,
}

impl Drop for Sibling {
    fn drop(&mut self) {
        kill_server(&self.name);
    }
}

/// Kills the test's tmux server `name` and removes its socket file.
fn kill_server(name: &str) {
    let pid = Command::new("tmux")
        .args(["-L", name, "display-message", "-p", "#{pid}"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<i32>().ok());
    let _ = Command::new("tmux").arg("-L").arg(name).arg("kill-server").output();
    // tmux 3.3a's server waits for its clients to go before it exits (1-2 s with a daemon
    // attached): a client that stopped reading (a test's stalled control client) would keep it
    // alive for good. A watcher that does not hold the test up SIGKILLs it if it is still
    // there after 5 s — only if that pid is still this server (its argv names our socket).
    if let Some(pid) = pid.filter(|p| *p > 1) {
        let script = format!(
            "sleep 5; tr '\\0' ' ' < /proc/{pid}/cmdline 2>/dev/null | grep -q -- '-L {} ' && kill -9 {pid}",
            name
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    // tmux leaves the socket file behind when its server exits; remove ours.
    let dir = std::env::var("TMUX_TMPDIR").unwrap_or_else(|_| "/tmp".into());
    // SAFETY: getuid(2) cannot fail and touches no memory.
    let uid = unsafe { libc::getuid() };
    let _ = std::fs::remove_file(Path::new(&dir).join(format!("tmux-{uid}")).join(name));
}

/// Polls `f` until it holds or `timeout` passes (tests only: production code waits on events).
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    f()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Reads a file, empty if missing.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The lines a child prints on stdout, as they come (a thread reads them; drop the receiver to
/// stop caring).
pub fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    lines_from(child.stdout.take().expect("stdout piped"))
}

/// The lines a child prints on stderr, as they come.
pub fn stderr_lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    lines_from(child.stderr.take().expect("stderr piped"))
}

/// The lines read from `input`, as they come, on a thread of their own.
fn lines_from(input: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(input).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Every pid in /proc.
pub fn read_dir_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// The parent of `pid`, from /proc.
pub fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].split_whitespace().nth(1)?.parse().ok()
}
