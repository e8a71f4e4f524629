//! Live state read back from tmux in one `list-panes -a` round trip: tmux is the source of truth.

use std::collections::BTreeMap;

/// Field separator in our `-F` formats: a control character no name we create can hold.
pub const SEP: char = '\x1f';

/// The `list-panes -F` fields, in [`LivePane::parse`] order.
pub const FIELDS: [&str; 24] = [
    "#{session_name}",
    "#{session_id}",
    "#{window_id}",
    "#{window_index}",
    "#{window_name}",
    "#{pane_id}",
    "#{pane_index}",
    "#{pane_pid}",
    "#{pane_dead}",
    "#{pane_dead_status}",
    "#{pane_current_command}",
    "#{pane_current_path}",
    "#{pane_active}",
    "#{@ctmux-project}",
    "#{@ctmux-id}",
    "#{@ctmux-hash}",
    "#{@ctmux-started}",
    "#{@ctmux-state}",
    "#{pane_dead_signal}",
    "#{history_size}",
    "#{cursor_y}",
    "#{@ctmux-health}",
    "#{@ctmux-restarts}",
    "#{@ctmux-gave-up}",
];

/// Marks the end of the pane list when other output follows it in the same call.
pub const END: &str = "\x1fctmux-end\x1f";

/// The `-F` argument for [`FIELDS`].
pub fn format() -> String {
    FIELDS.join(&SEP.to_string())
}

/// One pane as tmux reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePane {
    /// Session name.
    pub session: String,
    /// Session id (`$3`).
    pub session_id: String,
    /// Window id (`@4`).
    pub window_id: String,
    /// Window index.
    pub window_index: u32,
    /// Window name.
    pub window_name: String,
    /// Pane id (`%7`), stable for the pane's life, kept across `respawn-pane`.
    pub pane_id: String,
    /// Pane index in its window.
    pub pane_index: u32,
    /// PID of the pane's process (0 when unknown).
    pub pid: u32,
    /// The process has exited (remain-on-exit keeps the pane).
    pub dead: bool,
    /// Exit status when dead.
    pub exit_status: Option<i32>,
    /// Foreground command name.
    pub current_command: String,
    /// Current directory of the foreground process.
    pub current_path: String,
    /// Active pane of its window.
    pub active: bool,
    /// `@ctmux-project`, empty when not managed.
    pub project: String,
    /// `@ctmux-id`: the pane's address.
    pub address: String,
    /// `@ctmux-hash`: hash of the spec it was started from.
    pub hash: String,
    /// `@ctmux-started`: unix seconds of the last (re)start.
    pub started: Option<u64>,
    /// `@ctmux-state`: `stopped` after `ctmux stop`.
    pub state: String,
    /// Signal that killed the process, when dead by a signal.
    pub exit_signal: Option<i32>,
    /// Lines in the pane's history plus the cursor row: the absolute index of the cursor line,
    /// so "output after this moment" can be read back later.
    pub cursor_line: i64,
    /// The cursor's row on the screen.
    pub cursor_y: i64,
    /// `@ctmux-health`, kept current by the daemon (empty when no daemon checks it).
    pub health: String,
    /// `@ctmux-restarts`: restarts by the daemon (policy, rules, liveness) since the last start
    /// by a verb (`up`, `start`, `restart`), which resets the budget.
    pub restarts: u32,
    /// `@ctmux-gave-up`: the daemon used up `max_restarts` on this pane and left it exited.
    pub gave_up: bool,
}

impl LivePane {
    /// Parses one line of `list-panes -F format()` output.
    pub fn parse(line: &str) -> Option<LivePane> {
        let f: Vec<&str> = line.split(SEP).collect();
        if f.len() != FIELDS.len() {
            return None;
        }
        Some(LivePane {
            session: f[0].into(),
            session_id: f[1].into(),
            window_id: f[2].into(),
            window_index: f[3].parse().unwrap_or(0),
            window_name: f[4].into(),
            pane_id: f[5].into(),
            pane_index: f[6].parse().unwrap_or(0),
            pid: f[7].parse().unwrap_or(0),
            dead: f[8] == "1",
            exit_status: if f[8] == "1" { f[9].parse().ok() } else { None },
            current_command: f[10].into(),
            current_path: f[11].into(),
            active: f[12] == "1",
            project: f[13].into(),
            address: f[14].into(),
            hash: f[15].into(),
            started: f[16].parse().ok(),
            state: f[17].into(),
            exit_signal: if f[8] == "1" { f[18].parse().ok() } else { None },
            cursor_line: f[19].parse::<i64>().unwrap_or(0) + f[20].parse::<i64>().unwrap_or(0),
            cursor_y: f[20].parse().unwrap_or(0),
            health: f[21].into(),
            restarts: f[22].parse().unwrap_or(0),
            gave_up: f[23] == "1",
        })
    }

    /// Dead, but tmux has not reaped the process yet (no status, no signal). tmux 3.3a can miss
    /// a SIGCHLD and leave the child a zombie until another child exits; see [`super::Tmux::live`].
    pub fn status_pending(&self) -> bool {
        self.dead && self.exit_status.is_none() && self.exit_signal.is_none()
    }
}

/// Everything on one server, indexed for the planner.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Every pane on the server.
    pub panes: Vec<LivePane>,
}

impl Live {
    /// Parses the full `list-panes -a` output.
    pub fn parse(text: &str) -> Live {
        Live { panes: text.lines().filter_map(LivePane::parse).collect() }
    }

    /// Panes managed by `project`, by address (first one wins if tmux somehow holds two).
    pub fn managed(&self, project: &str) -> BTreeMap<String, &LivePane> {
        let mut out = BTreeMap::new();
        for p in self.panes.iter().filter(|p| p.project == project && !p.address.is_empty()) {
            out.entry(p.address.clone()).or_insert(p);
        }
        out
    }

    /// Whether a session of this name exists.
    pub fn has_session(&self, name: &str) -> bool {
        self.panes.iter().any(|p| p.session == name)
    }

    /// The id of window `window` in session `session`, if it exists.
    pub fn window_id(&self, session: &str, window: &str) -> Option<&str> {
        self.panes.iter().find(|p| p.session == session && p.window_name == window).map(|p| p.window_id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_managed_dead_pane() {
        let line = [
            "dev",
            "$1",
            "@2",
            "0",
            "main",
            "%3",
            "0",
            "42",
            "1",
            "7",
            "sh",
            "/tmp",
            "1",
            "shop",
            "dev/api",
            "abc",
            "1700000000",
            "",
            "",
            "10",
            "3",
            "healthy",
            "2",
            "1",
        ]
        .join(&SEP.to_string());
        let p = LivePane::parse(&line).unwrap();
        assert!(p.dead);
        assert_eq!(p.exit_status, Some(7));
        assert_eq!(p.address, "dev/api");
        assert_eq!(p.started, Some(1_700_000_000));
        assert_eq!((p.health.as_str(), p.restarts, p.gave_up), ("healthy", 2, true));
        assert!(LivePane::parse("too\x1ffew").is_none());
    }
}
