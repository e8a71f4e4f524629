//! Resource use of a pane: its whole process tree (the pane's process and every descendant),
//! sampled with sysinfo. CPU is a rate, so it needs two looks some time apart: the [`Sampler`]
//! keeps the previous look (the daemon samples on a timer; a one-off verb looks twice).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// One pane's resource use (`pane metrics` in docs/cli.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// CPU over the last interval, in % of one core (150 = one and a half cores).
    pub cpu_percent: f64,
    /// Resident memory of the tree, in bytes.
    pub memory_bytes: u64,
    /// Bytes read from disk since the processes started.
    pub io_read_bytes: u64,
    /// Bytes written to disk since the processes started.
    pub io_write_bytes: u64,
    /// Threads in the tree.
    pub threads: u64,
    /// Processes in the tree.
    pub processes: u64,
    /// Seconds the pane's own process has run.
    pub uptime_secs: u64,
}

/// Keeps the process table between looks.
pub struct Sampler {
    sys: Option<System>,
}

impl Default for Sampler {
    fn default() -> Self {
        Self::new()
    }
}

impl Sampler {
    /// A sampler that has not looked yet.
    pub fn new() -> Sampler {
        Sampler { sys: System::new().ok() }
    }

    /// Looks at every process (parents, CPU time, memory, I/O). CPU rates are relative to the
    /// previous look.
    pub fn refresh(&mut self) {
        let Some(sys) = self.sys.as_mut() else { return };
        let kind = ProcessRefreshKind::nothing().without_tasks().with_cpu().with_memory().with_disk_usage();
        sys.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
    }

    /// `root` and all its descendants.
    pub fn tree(&self, root: u32) -> Vec<u32> {
        let Some(sys) = &self.sys else { return Vec::new() };
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for (pid, p) in sys.processes() {
            if let Some(parent) = p.parent() {
                children.entry(parent.as_u32()).or_default().push(pid.as_u32());
            }
        }
        let mut seen: HashSet<u32> = HashSet::new();
        let mut stack = vec![root];
        while let Some(pid) = stack.pop() {
            if sys.process(Pid::from_u32(pid)).is_some() && seen.insert(pid) {
                stack.extend(children.get(&pid).into_iter().flatten());
            }
        }
        let mut v: Vec<u32> = seen.into_iter().collect();
        v.sort_unstable();
        v
    }

    /// The use of `root`'s tree as of the last look; `None` when `root` is not running.
    pub fn usage(&self, root: u32) -> Option<Usage> {
        let sys = self.sys.as_ref()?;
        let top = sys.process(Pid::from_u32(root))?;
        let mut u = Usage { uptime_secs: top.run_time(), ..Usage::default() };
        for pid in self.tree(root) {
            let Some(p) = sys.process(Pid::from_u32(pid)) else { continue };
            u.cpu_percent += f64::from(p.cpu_usage());
            u.memory_bytes += p.memory();
            let io = p.disk_usage();
            u.io_read_bytes += io.total_read_bytes;
            u.io_write_bytes += io.total_written_bytes;
            u.threads += threads(pid);
            u.processes += 1;
        }
        u.cpu_percent = (u.cpu_percent * 10.0).round() / 10.0;
        Some(u)
    }
}

/// Threads of `pid` (field 20 of `/proc/PID/stat`); 1 when unreadable.
fn threads(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')')?.1.split_whitespace().nth(17)?.parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_child_shows_in_its_parents_tree() {
        let mut child =
            std::process::Command::new("sh").args(["-c", "sh -c 'while :; do :; done' & wait"]).spawn().expect("sh");
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut s = Sampler::new();
        s.refresh();
        std::thread::sleep(std::time::Duration::from_millis(400));
        s.refresh();
        let u = s.usage(child.id()).expect("running");
        let _ = std::process::Command::new("pkill").args(["-P", &child.id().to_string()]).status();
        let _ = child.kill();
        let _ = child.wait();
        assert!(u.processes >= 2, "{u:?}");
        // Well above an idle tree's 0 %, and below what a loaded machine still grants a spinner.
        assert!(u.cpu_percent > 5.0, "a spinning child counts: {u:?}");
        assert!(u.memory_bytes > 0 && u.threads >= 2);
    }
}
