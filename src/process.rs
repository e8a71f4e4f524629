//! Process trees on Linux via `/proc`: what runs in a pane, so `down` can stop all of it.
//!
//! `kill-pane` only SIGHUPs the pane's process group; children that changed group or daemonized
//! survive (process-compose #38/#354/#520, overmind #143). Every pane process carries
//! `CTMUX_PROJECT`/`CTMUX_PANE` in its environment, which daemonized descendants inherit, so we
//! find a pane's processes by ancestry *and* by that mark. The mark alone would also match the
//! same project on another tmux server (two servers may run it side by side), so a marked
//! process must also carry the server's identity: tmux itself puts
//! `TMUX=<socket path>,<server pid>,<session>` into every pane's environment.

use std::collections::{HashMap, HashSet};
use std::fs;

/// A process's parent pid.
/// The parent of `pid`, from `/proc`.
pub fn ppid(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn all_pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// One tmux server's identity as its panes' processes carry it: the start of their `TMUX`
/// variable (`<socket path>,<server pid>,`), so marks are matched on this server only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerMark(Option<String>);

impl ServerMark {
    /// The server listening on `socket_path` with process id `pid`.
    pub fn new(socket_path: &str, pid: u32) -> ServerMark {
        ServerMark(Some(format!("TMUX={socket_path},{pid},")))
    }

    /// An unknown server (it could not be asked): no marked process matches, so only a pane's
    /// descendants are found — never another server's processes.
    pub fn unknown() -> ServerMark {
        ServerMark(None)
    }

    /// Parses `display-message -p '#{socket_path},#{pid}'` output.
    pub fn parse(text: &str) -> ServerMark {
        match text.trim().rsplit_once(',').and_then(|(path, pid)| Some((path, pid.parse().ok()?))) {
            Some((path, pid)) if !path.is_empty() => ServerMark::new(path, pid),
            _ => ServerMark::unknown(),
        }
    }
}

/// Whether the environment block `env` (NUL-separated) holds `CTMUX_PROJECT=project`,
/// `CTMUX_PANE=address` and the `TMUX` variable of `server`.
fn env_marked(env: &[u8], project: &str, address: &str, server: &ServerMark) -> bool {
    let Some(want_s) = &server.0 else {
        return false;
    };
    let want_p = format!("CTMUX_PROJECT={project}");
    let want_a = format!("CTMUX_PANE={address}");
    let (mut p, mut a, mut s) = (false, false, false);
    for var in env.split(|b| *b == 0) {
        p |= var == want_p.as_bytes();
        a |= var == want_a.as_bytes();
        s |= var.starts_with(want_s.as_bytes());
    }
    p && a && s
}

/// One read of `/proc`: every process's parent and the environment of those that carry a ctmux
/// mark, so the trees of many panes come from one pass. (`down` of 120 panes read all of
/// `/proc`, every process's environment included, twice per pane: most of its 30 s under load.)
pub struct ProcTable {
    children: HashMap<u32, Vec<u32>>,
    present: HashSet<u32>,
    /// Environments holding `CTMUX_PANE=`, by pid.
    marked: HashMap<u32, Vec<u8>>,
}

impl ProcTable {
    /// Reads `/proc` now.
    pub fn read() -> ProcTable {
        let me = std::process::id();
        let mut table = ProcTable { children: HashMap::new(), present: HashSet::new(), marked: HashMap::new() };
        for pid in all_pids() {
            let Some(parent) = ppid(pid) else { continue };
            table.present.insert(pid);
            table.children.entry(parent).or_default().push(pid);
            if pid == me {
                continue;
            }
            if let Ok(env) = fs::read(format!("/proc/{pid}/environ"))
                && env.windows(b"CTMUX_PANE=".len()).any(|w| w == b"CTMUX_PANE=")
            {
                table.marked.insert(pid, env);
            }
        }
        table
    }

    /// `root` and all its descendants, plus every process of `server` marked as belonging to the
    /// pane, as of this table's read.
    pub fn tree(&self, root: u32, project: &str, address: &str, server: &ServerMark) -> Vec<u32> {
        let mut found: HashSet<u32> = HashSet::new();
        let mut stack: Vec<u32> = Vec::new();
        if root > 0 && self.present.contains(&root) {
            stack.push(root);
        }
        for (&pid, env) in &self.marked {
            if env_marked(env, project, address, server) {
                stack.push(pid);
            }
        }
        while let Some(pid) = stack.pop() {
            if found.insert(pid) {
                stack.extend(self.children.get(&pid).into_iter().flatten());
            }
        }
        found.remove(&std::process::id());
        let mut v: Vec<u32> = found.into_iter().collect();
        v.sort_unstable();
        v
    }
}

/// Processes of `project` that a tmux server on `socket_path` other than the running one
/// (`live_pid`; `None`: no server runs there) left behind, by pane address: a pane's `nohup`
/// child outlives a server that is killed, and no pane of a later server leads to it. Each
/// carries its pane's `CTMUX_PROJECT`/`CTMUX_PANE` and `TMUX=<socket path>,<server pid>,…`;
/// the socket path keeps another server's processes out, the pid this server's live panes.
/// This process and its ancestors are never listed.
pub fn leftovers(project: &str, socket_path: &str, live_pid: Option<u32>) -> Vec<(String, u32)> {
    let mut spared: HashSet<u32> = HashSet::new();
    let mut p = std::process::id();
    while p > 1 && spared.insert(p) {
        p = ppid(p).unwrap_or(0);
    }
    let want_p = format!("CTMUX_PROJECT={project}");
    let mut out = Vec::new();
    for pid in all_pids() {
        if spared.contains(&pid) || !alive(pid) {
            continue;
        }
        let Ok(env) = fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let (mut ours, mut address, mut server) = (false, None, false);
        for var in env.split(|b| *b == 0) {
            let var = String::from_utf8_lossy(var);
            if var == want_p {
                ours = true;
            } else if let Some(a) = var.strip_prefix("CTMUX_PANE=") {
                address = Some(a.to_string());
            } else if let Some(t) = var.strip_prefix("TMUX=") {
                // `<socket path>,<server pid>,<session index>`; the path may hold commas.
                let mut parts = t.rsplitn(3, ',');
                let (_session, pid, path) = (parts.next(), parts.next(), parts.next());
                let pid: Option<u32> = pid.and_then(|p| p.parse().ok());
                server = path == Some(socket_path) && pid.is_some() && pid != live_pid;
            }
        }
        if let (true, true, Some(address)) = (ours, server, address) {
            out.push((address, pid));
        }
    }
    out.sort();
    out
}

/// `root` and all its descendants, plus every process of `server` marked as belonging to the
/// pane.
pub fn pane_tree(root: u32, project: &str, address: &str, server: &ServerMark) -> Vec<u32> {
    ProcTable::read().tree(root, project, address, server)
}

/// When this process was started (exec'd), in Unix milliseconds: the kernel's start time
/// (clock ticks since boot, so rounded down to 10 ms) mapped onto the wall clock. "Output after
/// the call" starts here, not at `main`, which runs a few ms later.
pub fn started_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Field 22, counting from the state after the parenthesized command name.
    let ticks: u64 = stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()?;
    // SAFETY: sysconf and clock_gettime only write into the timespec we own.
    let (hz, boot_now) = unsafe {
        let hz = libc::sysconf(libc::_SC_CLK_TCK);
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        if hz <= 0 || libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) != 0 {
            return None;
        }
        (hz as u64, ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000)
    };
    let age = boot_now.checked_sub(ticks * 1000 / hz)?;
    let now = (crate::reconcile::build::now_nanos() / 1_000_000) as u64;
    now.checked_sub(age)
}

/// Whether `pid` is still running (zombies count as gone).
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rfind(')').and_then(|i| stat[i + 2..].chars().next()).is_some_and(|state| state != 'Z' && state != 'X')
        }
        Err(_) => false,
    }
}

/// Sends `signal` (a name like `SIGTERM`) to `pid`; errors (already gone) are ignored.
pub fn signal(pid: u32, signal: &str) {
    if let Some(sig) = signal_number(signal)
        && let Ok(pid) = i32::try_from(pid)
    {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Sends `signal` to the process group `pgid`.
pub fn signal_group(pgid: u32, signal: &str) {
    if let Some(sig) = signal_number(signal)
        && let Ok(pgid) = i32::try_from(pgid)
        && pgid > 1
    {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

/// The signal number for a name such as `SIGTERM` or `TERM`.
pub fn signal_number(name: &str) -> Option<i32> {
    let n = crate::manifest::model::normalize_signal(name)?;
    Some(match n.as_str() {
        "SIGHUP" => libc::SIGHUP,
        "SIGINT" => libc::SIGINT,
        "SIGQUIT" => libc::SIGQUIT,
        "SIGKILL" => libc::SIGKILL,
        "SIGUSR1" => libc::SIGUSR1,
        "SIGUSR2" => libc::SIGUSR2,
        "SIGTERM" => libc::SIGTERM,
        "SIGCONT" => libc::SIGCONT,
        "SIGSTOP" => libc::SIGSTOP,
        "SIGTSTP" => libc::SIGTSTP,
        "SIGWINCH" => libc::SIGWINCH,
        "SIGALRM" => libc::SIGALRM,
        _ => return None,
    })
}

/// The foreground process group of the terminal `pid` runs on (the pane's `tpgid`).
pub fn foreground_group(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    // Fields after the name: state ppid pgrp session tty_nr tpgid …
    rest.split_whitespace().nth(5)?.parse::<i64>().ok().filter(|g| *g > 0).map(|g| g as u32)
}

/// The process a pane runs its command in: `pid` itself, or, when `pid` is the sink binary's
/// runner (`ctmux-sink --run -- …`, see `crate::sink::run_wrapped`), the runner's child.
pub fn command_of(pid: u32) -> u32 {
    let runner = cmdline(pid).is_some_and(|a| a.iter().take(3).any(|w| w == crate::sink::RUN));
    if !runner {
        return pid;
    }
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()
        .and_then(|c| c.split_whitespace().next().and_then(|c| c.parse().ok()))
        .unwrap_or(pid)
}

/// `pid`'s arguments (`/proc/PID/cmdline`), so a refusal can name what runs in a pane.
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(split_cmdline(&raw)).filter(|a| !a.is_empty())
}

/// `/proc/PID/cmdline` bytes as argv: each argument ends in a NUL, so an empty argument
/// (`a '' b`) is kept — only the final terminator is not an argument.
fn split_cmdline(raw: &[u8]) -> Vec<String> {
    let body = raw.strip_suffix(&[0]).unwrap_or(raw);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

/// `pid`'s command name (`/proc/PID/comm`, at most 15 bytes), as `ps` shows it.
pub fn comm(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|c| c.trim_end().to_string())
}

/// Live (not zombie) processes whose process group is `pgid`: is a terminal's foreground group
/// still running something, or is its job gone and the shell about to take the terminal back?
pub fn group_members(pgid: u32) -> Vec<u32> {
    let mut v: Vec<u32> = all_pids()
        .into_iter()
        .filter(|&pid| {
            fs::read_to_string(format!("/proc/{pid}/stat")).ok().is_some_and(|stat| {
                let Some(i) = stat.rfind(')') else { return false };
                let mut f = stat[i + 2..].split_whitespace();
                let state = f.next();
                let group = f.nth(1).and_then(|g| g.parse::<u32>().ok());
                group == Some(pgid) && !matches!(state, Some("Z" | "X"))
            })
        })
        .collect();
    v.sort_unstable();
    v
}

/// A future that resolves when process `pid` exits, from a pidfd (Linux ≥ 5.3): the kernel
/// wakes us, nothing polls. `Err` when pidfds are unavailable or the process is already gone.
pub fn exit_of(pid: u32) -> std::io::Result<impl std::future::Future<Output = ()>> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a descriptor we own, just returned by the kernel.
    let owned = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: the AsyncFd owns `owned` and nothing else closes or replaces the descriptor.
    let async_fd = unsafe { tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE)? };
    Ok(async move {
        let _ = async_fd.readable().await;
    })
}

#[cfg(test)]
mod mark_tests {
    use super::ServerMark;

    #[test]
    fn a_server_mark_is_parsed_from_socket_path_and_pid() {
        assert_eq!(ServerMark::parse("/tmp/tmux-1000/a,b,42\n"), ServerMark::new("/tmp/tmux-1000/a,b", 42));
        assert_eq!(ServerMark::parse(""), ServerMark::unknown());
        assert_eq!(ServerMark::parse("/tmp/x,"), ServerMark::unknown());
    }
}

#[cfg(test)]
mod start_tests {
    #[test]
    fn started_ms_is_just_before_now() {
        let started = super::started_ms().expect("linux /proc");
        let now = (crate::reconcile::build::now_nanos() / 1_000_000) as u64;
        assert!(started <= now + 10 && now - started < 600_000, "started {started}, now {now}");
    }
}

#[cfg(test)]
mod cmdline_tests {
    use super::split_cmdline;

    #[test]
    fn empty_arguments_are_kept() {
        assert_eq!(split_cmdline(b"a\0\0b\0"), ["a", "", "b"]);
        assert_eq!(split_cmdline(b"sh\0-c\0\0"), ["sh", "-c", ""]);
        assert!(split_cmdline(b"").is_empty());
        assert_eq!(split_cmdline(b"rewritten title"), ["rewritten title"]);
    }

    #[test]
    fn a_live_process_with_an_empty_argument_reads_back_whole() {
        let mut child = std::process::Command::new("sh").args(["-c", "sleep 5; :", "x", "", "y"]).spawn().unwrap();
        // Right after the fork the child may still be in exec (an empty or the parent's argv).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let mut argv = super::cmdline(child.id());
        while argv.as_ref().is_none_or(|a| a.first().map(String::as_str) != Some("sh"))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
            argv = super::cmdline(child.id());
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(argv.unwrap(), ["sh", "-c", "sleep 5; :", "x", "", "y"]);
    }
}
