//! What the daemon knows about one managed pane: its output (assembled into lines and logged),
//! which rules fired when, and its restart history.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use super::backlog;
use crate::manifest::model::{Pane, Restart, Rule};
use crate::tmux::LivePane;

/// Pane logs rotate to `<pane>.log.1` past this size (`CTMUX_LOG_MAX`, e.g. `16MiB`, when the
/// daemon starts; default 64 MiB), so a pane keeps at most twice this on disk.
fn log_cap() -> u64 {
    static CAP: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *CAP.get_or_init(|| {
        std::env::var("CTMUX_LOG_MAX")
            .ok()
            .and_then(|v| crate::units::parse_size(&v).ok())
            .filter(|n| *n >= 4096)
            .unwrap_or(64 * 1024 * 1024)
    })
}

/// The longest line kept whole (1 MiB): a longer one is logged in pieces of this size, each but
/// the last marked continued, so a stream without newlines costs bounded memory and linear time.
pub const LINE_MAX: usize = 1 << 20;

/// Splits a pane's output into lines: each byte is scanned once (an unfinished line is not
/// rescanned when more of it arrives), and the unfinished line never grows past [`LINE_MAX`].
#[derive(Default)]
pub struct Splitter {
    partial: Vec<u8>,
}

impl Splitter {
    /// Adds output; returns the finished lines (no newline, no trailing CR), each with whether
    /// it is a [`LINE_MAX`] piece of a line that goes on.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            self.extend(&rest[..nl], &mut out);
            let mut raw = std::mem::take(&mut self.partial);
            if raw.last() == Some(&b'\r') {
                raw.pop();
            }
            out.push((raw, false));
            rest = &rest[nl + 1..];
        }
        self.extend(rest, &mut out);
        out
    }

    fn extend(&mut self, mut bytes: &[u8], out: &mut Vec<(Vec<u8>, bool)>) {
        while self.partial.len() + bytes.len() >= LINE_MAX {
            // (A seeded cursor row may have pushed the line past the bound: it goes whole.)
            let take = LINE_MAX.saturating_sub(self.partial.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            out.push((std::mem::take(&mut self.partial), true));
        }
        self.partial.extend_from_slice(bytes);
    }

    /// Puts text already on the cursor row before the unfinished line.
    pub fn seed(&mut self, bytes: &[u8]) {
        let mut seeded = bytes.to_vec();
        seeded.extend_from_slice(&self.partial);
        self.partial = seeded;
    }

    /// The unfinished line, if any (taking it).
    pub fn take(&mut self) -> Option<Vec<u8>> {
        (!self.partial.is_empty()).then(|| std::mem::take(&mut self.partial))
    }
}

/// The daemon's view of one pane.
pub struct PaneState {
    /// Project name.
    pub project: String,
    /// `session/pane`.
    pub address: String,
    /// tmux pane id.
    pub pane_id: String,
    /// tmux session id (`$3`), whose control client carries the pane's output.
    pub session_id: String,
    /// Current process.
    pub pid: u32,
    /// The pid whose exit is being watched.
    pub watched: Option<u32>,
    /// This pid exited, and tmux has not reaped it yet (its `pane-died` hook will say).
    pub exit_pending: Option<u32>,
    /// When the current process started (for backoff reset).
    pub started: Instant,
    /// The pane's manifest entry (rules, restart policy).
    pub spec: Option<Pane>,
    /// Restarts in a row (reset after a stable run).
    pub restarts: u32,
    /// Health of the current process, when the pane has checks.
    pub health: Option<crate::reconcile::health::Tracker>,
    /// Bumped at every new process, so late probe results of an old one are dropped.
    pub generation: u64,
    /// Output arrived since the last `@ctmux-logged` mark.
    pub unmarked: bool,
    /// A rule asked for a restart: respawn at the exit, whatever the policy.
    pub restart_requested: bool,
    /// Where the current process's output begins in the log (offset, inode): the lines an exit
    /// capture is lined up with.
    pub process_start: backlog::Mark,
    /// The pane row (counting history) where the current process's output begins, when known
    /// (a respawn keeps the history above it).
    pub process_row: usize,
    /// An exit capture was asked for and has not been logged yet.
    pub recapture_pending: bool,
    /// A restart (after this delay) waiting for the exit capture to be logged first.
    pub restart_after_capture: Option<Duration>,
    /// Over a limit at the last sample (so `limit.exceeded` is said once per crossing).
    pub over_limit: bool,
    /// The process is `up`'s placeholder (hash `pending`), not the pane's command: its start
    /// and exit are not events.
    pub placeholder: bool,
    partial: Splitter,
    /// The log could not be opened (a symlink, say): said once.
    log_refused: bool,
    log: Option<(BufWriter<File>, u64)>,
    fired: HashMap<usize, Instant>,
}

impl PaneState {
    /// State for a pane seen in tmux.
    pub fn new(lp: &LivePane, spec: Option<Pane>) -> PaneState {
        PaneState {
            project: lp.project.clone(),
            address: lp.address.clone(),
            pane_id: lp.pane_id.clone(),
            session_id: lp.session_id.clone(),
            pid: lp.pid,
            watched: None,
            exit_pending: None,
            started: Instant::now(),
            spec,
            restarts: lp.restarts,
            health: None,
            generation: 0,
            unmarked: false,
            placeholder: false,
            restart_requested: false,
            over_limit: false,
            restart_after_capture: None,
            recapture_pending: false,
            process_row: 0,
            process_start: super::paths::pane_log(&lp.project, &lp.address)
                .map(|log| backlog::Mark::now(&log, 0))
                .unwrap_or(backlog::Mark { row: 0, offset: 0, inode: 0 }),
            partial: Splitter::default(),
            log_refused: false,
            log: None,
            fired: HashMap::new(),
        }
    }

    /// Appends output; returns the completed lines (ANSI stripped) after logging them raw.
    /// Pieces of an over-long line ([`Splitter`]) are logged marked continued (timestamp
    /// suffixed `+`) and handed to rules as lines of their own.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let pieces = self.partial.push(bytes);
        let mut lines = Vec::with_capacity(pieces.len());
        for (raw, continued) in pieces {
            self.write_log(&raw, continued);
            lines.push(crate::ansi::strip(&String::from_utf8_lossy(&raw)));
        }
        lines
    }

    /// Starts the partial line with text already on the pane's cursor row.
    pub fn seed(&mut self, bytes: &[u8]) {
        self.partial.seed(bytes);
    }

    /// The pane's log file.
    pub fn log_path(&self) -> Option<std::path::PathBuf> {
        super::paths::pane_log(&self.project, &self.address).ok()
    }

    /// Whether the pane has a health check or `ready_when`.
    pub fn checked(&self) -> bool {
        self.spec.as_ref().is_some_and(|p| p.health.is_some() || p.ready_when.is_some())
    }

    /// The output pattern that makes the pane healthy (`ready_when`, or a `log:` check).
    pub fn ready_pattern(&self) -> Option<&regex::Regex> {
        let spec = self.spec.as_ref()?;
        spec.ready_when
            .as_ref()
            .or(match spec.health.as_ref().map(|h| &h.check) {
                Some(crate::manifest::model::Check::Log(p)) => Some(p),
                _ => None,
            })
            .map(|p| &p.regex)
    }

    /// Flushes the log file without touching the partial line.
    pub fn flush_log(&mut self) {
        if let Some((w, _)) = self.log.as_mut() {
            let _ = w.flush();
        }
    }

    /// Writes what is buffered (a trailing partial line too) to the log.
    pub fn flush(&mut self) {
        if let Some(raw) = self.partial.take() {
            self.write_log(&raw, false);
        }
        if let Some((w, _)) = self.log.as_mut() {
            let _ = w.flush();
        }
    }

    /// Logs one line; `continued` marks a piece of a longer line (its timestamp gets a `+`).
    fn write_log(&mut self, raw: &[u8], continued: bool) {
        if self.log.is_none() {
            let Ok(path) = super::paths::pane_log(&self.project, &self.address) else { return };
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            match crate::state::open_append(&path) {
                Ok(f) => self.log = Some((BufWriter::with_capacity(1 << 16, f), size)),
                Err(e) if !self.log_refused => {
                    // Said once (in the daemon's log); the pane's output is not logged.
                    self.log_refused = true;
                    eprintln!("ctmux daemon: not logging {}: {e}", path.display());
                }
                Err(_) => {}
            }
        }
        let ts = crate::reconcile::build::now_nanos() / 1_000_000;
        let Some((w, size)) = self.log.as_mut() else { return };
        let _ = write!(w, "{ts}{}\t", if continued { "+" } else { "" });
        let _ = w.write_all(raw);
        let _ = w.write_all(b"\n");
        *size += raw.len() as u64 + 15;
        if *size > log_cap() {
            let _ = w.flush();
            self.log = None;
            if let Ok(path) = super::paths::pane_log(&self.project, &self.address) {
                let _ = crate::fs_safe::rename(&path, &path.with_extension("log.1"));
            }
        }
    }

    /// The rules that fire on `line` now (respecting `cooldown` and `once`), with named groups.
    pub fn rules_for(&mut self, line: &str) -> Vec<(Rule, Vec<(String, String)>)> {
        let Some(spec) = &self.spec else { return Vec::new() };
        let mut out = Vec::new();
        for (i, rule) in spec.on.iter().enumerate() {
            let Some(caps) = rule.pattern.regex.captures(line) else { continue };
            let now = Instant::now();
            match self.fired.get(&i) {
                Some(_) if rule.once => continue,
                Some(last) if rule.cooldown.is_some_and(|c| now.duration_since(*last) < c) => continue,
                _ => {}
            }
            self.fired.insert(i, now);
            let groups = rule
                .pattern
                .regex
                .capture_names()
                .flatten()
                .filter_map(|n| caps.name(n).map(|m| (n.to_string(), m.as_str().to_string())))
                .collect();
            out.push((rule.clone(), groups));
        }
        out
    }

    /// Whether (and after how long) to restart after an exit with `status`; `state` is the
    /// pane's `@ctmux-state` (`stopped` after `ctmux stop`: never restart).
    pub fn restart_delay(&mut self, status: Option<i32>, state: &str) -> Option<Duration> {
        let spec = self.spec.as_ref()?;
        let wanted = state != "stopped"
            && match spec.restart {
                Restart::No => false,
                Restart::OnFailure => status != Some(0),
                Restart::Always | Restart::UnlessStopped => true,
            };
        if !wanted {
            return None;
        }
        // A process that stayed up for a while starts the backoff afresh.
        if self.started.elapsed() >= Duration::from_secs(10) {
            self.restarts = 0;
        }
        if spec.max_restarts.is_some_and(|m| self.restarts >= m) {
            return None;
        }
        // Once-per-start rules may fire again after the restart.
        self.fired.retain(|i, _| !spec.on.get(*i).is_some_and(|r| r.once));
        Some(Duration::from_secs(1u64 << self.restarts.min(5)).min(Duration::from_secs(30)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_without_newline_is_split_linearly_into_bounded_continued_pieces() {
        let mut s = Splitter::default();
        let chunk = vec![b'x'; 1024];
        let start = Instant::now();
        let mut pieces = Vec::new();
        // 40 MiB in 1 KiB chunks: rescanning the unfinished line per chunk is ~8e11 steps.
        for _ in 0..40 * 1024 {
            pieces.extend(s.push(&chunk));
        }
        assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
        assert_eq!(pieces.len(), 40);
        assert!(pieces.iter().all(|(p, continued)| p.len() == LINE_MAX && *continued));
        assert_eq!(s.push(b"ab\r\ncd\n"), vec![(b"ab".to_vec(), false), (b"cd".to_vec(), false)]);
        assert_eq!(s.take(), None);
        s.push(b"tail");
        s.seed(b"head-");
        assert_eq!(s.take(), Some(b"head-tail".to_vec()));
    }
}
