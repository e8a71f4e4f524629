//! Health probes (exec, http, tcp) and the per-pane health state machine of the manifest's
//! `health:` (docs/manifest.md): probes every `start_interval` until the first success, then every `interval`; `retries`
//! consecutive failures after `start_period` make the pane unhealthy. `ready_when` and `log`
//! checks are evaluated against the pane's output by the caller.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::manifest::model::{Check, Health, Pane};

/// A pane's health as users see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// No check defined.
    None,
    /// Checks not passed yet.
    Starting,
    /// Passing.
    Healthy,
    /// Failed `retries` times in a row.
    Unhealthy,
}

impl State {
    /// The word used in tables, JSON and the `@ctmux-health` option.
    pub fn as_str(self) -> &'static str {
        match self {
            State::None => "none",
            State::Starting => "starting",
            State::Healthy => "healthy",
            State::Unhealthy => "unhealthy",
        }
    }
}

/// Runs one probe; `Err` carries why it failed.
pub async fn probe(check: &Check, pane: &Pane, timeout: Duration) -> Result<(), String> {
    let run = async {
        match check {
            Check::Exec(cmd) => exec(cmd, pane).await,
            Check::Http(url) => http(url).await,
            Check::Tcp(addr) => {
                TcpStream::connect(addr.as_str()).await.map(|_| ()).map_err(|e| format!("connect {addr}: {e}"))
            }
            Check::Log(_) => Err("log checks are matched against output".into()),
        }
    };
    tokio::time::timeout(timeout, run)
        .await
        .unwrap_or_else(|_| Err(format!("timed out after {}", crate::units::format_duration(timeout))))
}

async fn exec(cmd: &str, pane: &Pane) -> Result<(), String> {
    let status = tokio::process::Command::new(&pane.shell)
        .arg("-c")
        .arg(cmd)
        .current_dir(&pane.cwd)
        .envs(pane.env.iter())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| format!("cannot run `{cmd}`: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{cmd}` exited with {}", status.code().unwrap_or(-1))) }
}

/// A minimal HTTP/1.1 GET: health endpoints need a status line, not a client library.
///
/// Politely: the request is complete (`Host`, `Connection: close`) and the response is read to
/// its end before the socket closes. Closing with unread bytes makes the kernel send a RST, and
/// servers that are still writing (Python's `http.server` among them) log a
/// `ConnectionResetError` traceback for every probe.
async fn http(url: &str) -> Result<(), String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs are probed")?;
    let (hostport, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let addr = if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:80") };
    let mut stream = TcpStream::connect(&addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nUser-Agent: ctmux\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let status_line = String::from_utf8_lossy(head.split(|b| *b == b'\n').next().unwrap_or_default()).into_owned();
    let code: Option<u16> =
        status_line.strip_prefix("HTTP/").and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok());
    // The server closes after its response (`Connection: close`): read to that end, within
    // bounds (a streaming endpoint never ends; then we close anyway).
    let drain = async {
        let mut left: usize = 1 << 20;
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
    let code = code.ok_or_else(|| format!("no HTTP status from {url}"))?;
    if (200..400).contains(&code) { Ok(()) } else { Err(format!("{url} answered {code}")) }
}

/// Probe schedule and counters for one pane.
#[derive(Debug, Clone)]
pub struct Tracker {
    /// Current state.
    pub state: State,
    /// Last failure message.
    pub last_error: Option<String>,
    started: Instant,
    next: Instant,
    failures: u32,
    ever_healthy: bool,
}

impl Tracker {
    /// A tracker for a pane started now.
    pub fn new() -> Tracker {
        let now = Instant::now();
        Tracker { state: State::Starting, last_error: None, started: now, next: now, failures: 0, ever_healthy: false }
    }

    /// Whether a probe is due.
    pub fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Time until the next probe is due.
    pub fn until_next(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    /// Records a probe result and schedules the next one.
    pub fn record(&mut self, health: &Health, result: Result<(), String>) {
        let now = Instant::now();
        match result {
            Ok(()) => {
                self.state = State::Healthy;
                self.failures = 0;
                self.ever_healthy = true;
                self.last_error = None;
            }
            Err(e) => {
                self.last_error = Some(e);
                // Failures inside start_period do not count (compose semantics).
                if now.duration_since(self.started) >= health.start_period {
                    self.failures += 1;
                    if self.failures >= health.retries.max(1) {
                        self.state = State::Unhealthy;
                    }
                }
            }
        }
        let interval = if self.ever_healthy { health.interval } else { health.start_interval };
        self.next = now + interval;
    }
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new()
    }
}
