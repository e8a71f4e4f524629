//! The daemon's life: supervised (a SIGKILLed daemon is back within 2 s with no command run,
//! several times in a row, leaving nothing behind), one per tmux server whatever the runtime
//! directory, stopped for good by `daemon stop`, and its control clients never moved by
//! `attach` (nor kept moved by a user's `switch-client`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Server, eventually, parent, read_dir_pids};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `daemon status --json`'s status (`None`: no daemon answers). `daemon status` only asks; it
/// never starts a daemon, so polling it runs no command that could bring one back.
fn daemon_status(s: &Server, runtime: Option<&Path>) -> Option<serde_json::Value> {
    let mut cmd = s.cmd(&["--json", "daemon", "status"]);
    if let Some(dir) = runtime {
        cmd.env("XDG_RUNTIME_DIR", dir);
    }
    let out = cmd.output().unwrap();
    let doc = json(&String::from_utf8_lossy(&out.stdout));
    (doc["running"] == true).then(|| doc["status"].clone())
}

fn pid_of(status: &serde_json::Value, key: &str) -> u32 {
    status[key].as_u64().unwrap_or_else(|| panic!("no {key} in {status}")) as u32
}

/// Processes whose arguments name this server (`-L NAME`) and contain `what`.
fn processes(s: &Server, what: &[&str]) -> Vec<u32> {
    read_dir_pids()
        .into_iter()
        .filter(|p| {
            let args: Vec<String> = std::fs::read(format!("/proc/{p}/cmdline"))
                .unwrap_or_default()
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let state = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let zombie = state.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
            !zombie
                && args.windows(2).any(|w| w[0] == "-L" && w[1] == s.name)
                && what.iter().all(|w| args.iter().any(|a| a == w))
        })
        .collect()
}

/// `(pid, name, session name)` of the server's control clients.
/// The server's daemon processes (not their supervisors, whose arguments hold the daemon's).
fn daemons(s: &Server) -> Vec<u32> {
    processes(s, &["daemon", "run"])
        .into_iter()
        .filter(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "ctmux"))
        .filter(|p| {
            !std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default().windows(11).any(|w| w == b"__supervise")
        })
        .collect()
}

fn control_clients(s: &Server) -> Vec<(u32, String, String)> {
    s.tmux(&["list-clients", "-F", "#{client_pid}\t#{client_name}\t#{client_flags}\t#{session_name}"])
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let pid = f.first()?.parse().ok()?;
            (f.len() == 4 && f[2].contains("control-mode")).then(|| (pid, f[1].to_string(), f[3].to_string()))
        })
        .collect()
}

/// Whether `pid` is gone (a zombie counts as gone: whoever adopted it may not reap at once).
fn gone(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')').is_none_or(|(_, r)| r.trim_start().starts_with('Z'))
}

fn kill(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a process this test started (through ctmux).
    unsafe { libc::kill(pid as i32, signal) };
}

#[test]
fn a_sigkilled_daemon_is_back_within_2s_five_times_in_a_row_with_nothing_left_behind() {
    let s = Server::new(
        "version: 1\nname: phoenix\nsessions:\n  one:\n    panes:\n      p: exec sleep 1000\n  two:\n    panes:\n      q: exec sleep 1000\n",
    );
    s.expect(&["up"], 0);
    let first = daemon_status(&s, None).expect("the daemon runs after up");
    let supervisor = pid_of(&first, "supervisor");
    let mut daemon = pid_of(&first, "pid");
    let mut times = Vec::new();
    for round in 0..5 {
        kill(daemon, libc::SIGKILL);
        let killed = Instant::now();
        let mut back = None;
        while killed.elapsed() < Duration::from_secs(5) {
            if let Some(st) = daemon_status(&s, None).filter(|st| pid_of(st, "pid") != daemon) {
                back = Some(st);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let took = killed.elapsed();
        let st = back.unwrap_or_else(|| panic!("round {round}: no daemon 5 s after the kill"));
        times.push(took.as_millis());
        assert!(took < Duration::from_secs(2), "round {round}: back after {took:?}");
        assert_eq!(pid_of(&st, "supervisor"), supervisor, "round {round}: another supervisor");
        daemon = pid_of(&st, "pid");
        // The killed daemon's clients and waiter are gone; the new one keeps no control client
        // (pane output reaches it through the logs its panes' sinks write).
        assert!(
            eventually(Duration::from_secs(3), || control_clients(&s).is_empty()),
            "round {round}: control clients {:?} (daemon {daemon})",
            control_clients(&s)
        );
        assert!(
            eventually(Duration::from_secs(2), || {
                let waiters = processes(&s, &["wait-for", "ctmux-died"]);
                waiters.len() == 1 && parent(waiters[0]) == Some(daemon)
            }),
            "round {round}: wait-for clients left: {:?}",
            processes(&s, &["wait-for"]).iter().map(|p| (p, parent(*p))).collect::<Vec<_>>()
        );
        assert_eq!(daemons(&s), [daemon], "round {round}");
        let registered = s.tmux(&["show-options", "-s", "-v", "@ctmux-daemon"]);
        assert!(registered.starts_with(&format!("pid={daemon} ")), "{registered}");
    }
    eprintln!("daemon back after SIGKILL (ms): {times:?}");
    let doc = json(&s.expect(&["--json", "status"], 0));
    assert_eq!(doc["daemon"], "running", "{doc}");
}

#[test]
fn a_restart_always_pane_that_dies_while_the_daemon_is_down_is_restarted_when_it_is_back() {
    let s = Server::new(
        "version: 1\nname: lazarus\nsessions:\n  s:\n    panes:\n      svc:\n        command: exec sleep 1000\n        restart: always\n",
    );
    s.expect(&["up"], 0);
    let st = daemon_status(&s, None).expect("daemon");
    let (daemon, supervisor) = (pid_of(&st, "pid"), pid_of(&st, "supervisor"));
    let before = s.panes()[0].2;
    // Hold the supervisor so the daemon stays down while the pane's process dies (and let it go
    // even if the test fails).
    struct Resume(u32);
    impl Drop for Resume {
        fn drop(&mut self) {
            kill(self.0, libc::SIGCONT);
        }
    }
    let _resume = Resume(supervisor);
    kill(supervisor, libc::SIGSTOP);
    kill(daemon, libc::SIGKILL);
    assert!(eventually(Duration::from_secs(2), || daemons(&s).is_empty()));
    kill(before, libc::SIGKILL);
    assert!(eventually(Duration::from_secs(5), || s.panes()[0].3), "the pane did not die");
    std::thread::sleep(Duration::from_millis(500));
    assert!(s.panes()[0].3, "something restarted the pane while no daemon ran");
    let resumed = Instant::now();
    kill(supervisor, libc::SIGCONT);
    assert!(
        eventually(Duration::from_secs(5), || s.panes().first().is_some_and(|p| !p.3 && p.2 != before)),
        "the pane was not restarted: {:?}",
        s.panes()
    );
    eprintln!("restart: always pane running again {:?} after the supervisor resumed", resumed.elapsed());
    assert!(resumed.elapsed() < Duration::from_secs(3), "{:?}", resumed.elapsed());
    let events = json(&s.expect(&["--json", "events", "--kind", "pane.exited"], 0));
    let exits: Vec<_> = events["events"].as_array().unwrap().iter().filter(|e| e["data"]["pid"] == before).collect();
    assert_eq!(exits.len(), 1, "{events}");
}

#[test]
fn two_runtime_directories_find_one_daemon_and_a_second_one_refuses() {
    let s = Server::new("version: 1\nname: single\nsessions:\n  s:\n    panes:\n      p: exec sleep 1000\n");
    let other = tempfile::tempdir().unwrap();
    // Both start at once, from two runtime directories.
    s.expect(&["up", "--no-daemon"], 0);
    let mut a = s.cmd(&["--json", "daemon", "start"]);
    let mut b = s.cmd(&["--json", "daemon", "start"]);
    b.env("XDG_RUNTIME_DIR", other.path());
    let piped =
        |c: &mut Command| c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let (a, b) = (piped(&mut a), piped(&mut b));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success(), "{a:?}\n{b:?}");
    let started: Vec<bool> =
        [&a, &b].iter().map(|o| json(&String::from_utf8_lossy(&o.stdout))["started"] == true).collect();
    assert!(started.iter().any(|s| *s), "{started:?}");
    std::thread::sleep(Duration::from_millis(500));
    let found = daemons(&s);
    assert_eq!(found.len(), 1, "daemons: {found:?}");
    let here = daemon_status(&s, None).expect("found from the first runtime directory");
    let there = daemon_status(&s, Some(other.path())).expect("found from the second runtime directory");
    assert_eq!(pid_of(&here, "pid"), found[0]);
    assert_eq!(pid_of(&there, "pid"), found[0]);
    // Verbs from either directory use it: none starts another.
    let mut status = s.cmd(&["--json", "status"]);
    status.env("XDG_RUNTIME_DIR", other.path());
    let doc = json(&String::from_utf8_lossy(&status.output().unwrap().stdout));
    assert_eq!(doc["daemon"], "running", "{doc}");
    // A daemon run by hand (a cron job with its own runtime directory) refuses and names it.
    let mut run = s.cmd(&["daemon", "run"]);
    run.env("XDG_RUNTIME_DIR", other.path());
    let out = run.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("already serves this tmux server: pid {}", found[0])), "{err}");
    assert_eq!(daemons(&s), found);
    // A registration whose daemon is gone is taken over: killed (and its supervisor too), the
    // next command from the other directory starts the one daemon again.
    let supervisor = pid_of(&here, "supervisor");
    kill(supervisor, libc::SIGKILL);
    kill(found[0], libc::SIGKILL);
    assert!(eventually(Duration::from_secs(2), || daemons(&s).is_empty()));
    let mut start = s.cmd(&["--json", "daemon", "start"]);
    start.env("XDG_RUNTIME_DIR", other.path());
    assert!(start.status().unwrap().success());
    let now = daemons(&s);
    assert_eq!(now.len(), 1, "{now:?}");
    assert_eq!(pid_of(&daemon_status(&s, None).expect("found from the first directory"), "pid"), now[0]);
    let registered = s.tmux(&["show-options", "-s", "-v", "@ctmux-daemon"]);
    assert!(registered.contains(&other.path().display().to_string()), "{registered}");
}

#[test]
fn daemon_stop_ends_the_supervisor_too_and_leaves_no_process() {
    let s = Server::new("version: 1\nname: rest\nsessions:\n  s:\n    panes:\n      p: exec sleep 1000\n");
    s.expect(&["up"], 0);
    let st = daemon_status(&s, None).expect("daemon");
    let supervisor = pid_of(&st, "supervisor");
    assert_eq!(std::fs::read_to_string(format!("/proc/{supervisor}/comm")).unwrap().trim(), "ctmux-supervise");
    s.expect(&["daemon", "stop"], 0);
    assert!(gone(supervisor), "the supervisor outlived daemon stop");
    std::thread::sleep(Duration::from_secs(1));
    let left: Vec<u32> = processes(&s, &[]).into_iter().filter(|p| !is_tmux_server(*p)).collect();
    assert!(
        left.is_empty(),
        "left: {:?}",
        left.iter().map(|p| std::fs::read_to_string(format!("/proc/{p}/cmdline"))).collect::<Vec<_>>()
    );
    assert_eq!(s.tmux(&["show-options", "-s", "-q", "-v", "@ctmux-daemon"]), "", "registration not cleared");
    assert!(daemon_status(&s, None).is_none());
    // SIGTERM is a clean stop too: no restart.
    s.expect(&["daemon", "start"], 0);
    let st = daemon_status(&s, None).expect("daemon");
    let (daemon, supervisor) = (pid_of(&st, "pid"), pid_of(&st, "supervisor"));
    kill(daemon, libc::SIGTERM);
    assert!(eventually(Duration::from_secs(5), || gone(supervisor)));
    assert!(daemons(&s).is_empty());
}

fn is_tmux_server(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("tmux: server"))
}

#[test]
fn without_its_small_binary_ctmux_supervises_the_daemon_itself() {
    let s = Server::new("version: 1\nname: alone\nsessions:\n  s:\n    panes:\n      p: exec sleep 1000\n");
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("ctmux");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_ctmux"), &exe).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_ctmux"), &exe).unwrap();
    }
    let mut up = Command::new(&exe);
    up.current_dir(s.dir.path())
        .env("CTMUX_STATE_DIR", s.state.path())
        .env("XDG_RUNTIME_DIR", s.state.path())
        .env("CTMUX_TMUX_CONF", "/dev/null")
        .env_remove("TMUX")
        .args(["-L", &s.name, "up"]);
    assert!(up.status().unwrap().success());
    let st = daemon_status(&s, None).expect("daemon");
    let supervisor = pid_of(&st, "supervisor");
    let args = std::fs::read_to_string(format!("/proc/{supervisor}/cmdline")).unwrap();
    assert!(args.starts_with(&format!("{}\0__supervise\0", exe.display())), "{args:?}");
    let daemon = pid_of(&st, "pid");
    kill(daemon, libc::SIGKILL);
    assert!(
        eventually(Duration::from_secs(2), || daemon_status(&s, None).is_some_and(|st| pid_of(&st, "pid") != daemon)),
        "not back"
    );
    s.expect(&["daemon", "stop"], 0);
    assert!(gone(supervisor));
}

/// Numbered lines, a batch of 100 every 0.1 s, then an end mark.
fn counter(tag: &str, n: usize) -> String {
    format!(
        "i=0; while [ $$i -lt {n} ]; do i=$$((i+1)); echo {tag}$$i; [ $$((i % 100)) -eq 0 ] && sleep 0.1; done; echo {tag}-END; exec sleep 1000"
    )
}

/// The numbers of `tag`'s lines in `ctmux logs` of `address`.
fn logged(s: &Server, address: &str, tag: &str) -> (Vec<usize>, bool) {
    let out = s.expect(&["--json", "logs", address], 0);
    let mut numbers = Vec::new();
    let mut end = false;
    for line in out.lines() {
        let doc = json(line);
        let text = doc["line"].as_str().unwrap_or_default().trim_end_matches('\r');
        if text == format!("{tag}-END") {
            end = true;
        } else if let Some(n) = text.strip_prefix(tag).and_then(|n| n.parse().ok()) {
            numbers.push(n);
        }
    }
    (numbers, end)
}

#[test]
fn attach_from_another_tmux_server_and_a_moved_control_client_leave_each_line_logged_once() {
    const N: usize = 3000;
    let s = Server::new(&format!(
        "version: 1\nname: twice\nshell: /bin/sh\nsessions:\n  a:\n    panes:\n      p: \"{}\"\n  b:\n    panes:\n      p: \"{}\"\n",
        counter("A", N),
        counter("B", N)
    ));
    s.expect(&["up"], 0);
    // Pane output reaches logs through each pane's sink; the daemon keeps control clients only
    // for subscriptions, so one (matching nothing) gives it a client per session to be moved.
    s.expect(&["subscribe", "pane.output", "--match", "never-(zzz)", "--", "true"], 0);
    assert!(eventually(Duration::from_secs(10), || control_clients(&s).len() == 2), "{:?}", control_clients(&s));
    assert!(eventually(Duration::from_secs(10), || !logged(&s, "a/p", "A").0.is_empty()), "a is not logged");
    let daemon = pid_of(&daemon_status(&s, None).expect("daemon"), "pid");
    // Another tmux server (torn down on drop like ours) whose pane runs `ctmux attach b`.
    let outer = Server::new("version: 1\n");
    let env = |k: &str, v: &Path| format!("{k}={}", v.display());
    let attach = format!("{} -L {} attach b", env!("CARGO_BIN_EXE_ctmux"), s.name);
    let out = Command::new("tmux")
        .args(["-L", &outer.name, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40"])
        .args(["-c", &s.dir.path().display().to_string()])
        .args(["-e", &env("CTMUX_STATE_DIR", s.state.path()), "-e", &env("XDG_RUNTIME_DIR", s.state.path())])
        .args(["-e", "CTMUX_TMUX_CONF=/dev/null", &attach])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // The nested client shows b; the daemon's clients stay where they were.
    let terminal_on_b = || {
        s.tmux(&["list-clients", "-F", "#{client_flags}\t#{session_name}"])
            .lines()
            .any(|l| l.ends_with("\tb") && !l.contains("control-mode"))
    };
    assert!(eventually(Duration::from_secs(10), terminal_on_b), "{}", s.tmux(&["list-clients"]));
    let sessions = |c: &[(u32, String, String)]| -> Vec<String> {
        let mut v: Vec<String> = c.iter().filter(|x| parent(x.0) == Some(daemon)).map(|x| x.2.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(sessions(&control_clients(&s)), ["a", "b"], "{:?}", control_clients(&s));
    // A user moves the daemon's client of a to b by hand.
    let (_, name, _) = control_clients(&s).into_iter().find(|c| c.2 == "a" && parent(c.0) == Some(daemon)).unwrap();
    let moved = Command::new("tmux").args(["-L", &s.name, "switch-client", "-c", &name, "-t", "=b"]).output().unwrap();
    assert!(moved.status.success(), "{moved:?}");
    let (a, _) = logged(&s, "a/p", "A");
    assert!(a.len() < N, "a finished before the switch ({} lines): the test proves nothing", a.len());
    // The daemon undoes it: one client per session again, a watched again.
    assert!(
        eventually(Duration::from_secs(5), || sessions(&control_clients(&s)) == ["a", "b"]
            && control_clients(&s).len() == 2),
        "{:?}",
        control_clients(&s)
    );
    assert!(
        eventually(Duration::from_secs(60), || logged(&s, "a/p", "A").1 && logged(&s, "b/p", "B").1),
        "the counters did not finish"
    );
    std::thread::sleep(Duration::from_millis(500));
    let expected: Vec<usize> = (1..=N).collect();
    for (address, tag) in [("a/p", "A"), ("b/p", "B")] {
        let (got, _) = logged(&s, address, tag);
        if got != expected {
            let repeats = got.windows(2).filter(|w| w[1] <= w[0]).count();
            let gaps = got.windows(2).filter(|w| w[1] > w[0] + 1).count();
            panic!("{address}: {} lines, {repeats} repeats, {gaps} gaps", got.len());
        }
    }
    let st = daemon_status(&s, None).expect("daemon");
    assert_eq!(st["sessions"].as_array().unwrap().len(), 2, "{st}");
    assert!(terminal_on_b(), "the nested terminal lost b");
    // Inside tmux on the same server: `ctmux attach a` from a window of b that the nested
    // terminal shows switches that terminal's client, not the daemon's.
    let daemon = pid_of(&st, "pid");
    let attach_a = format!("{} -L {} attach a", env!("CARGO_BIN_EXE_ctmux"), s.name);
    let out = Command::new("tmux")
        .args(["-L", &s.name, "new-window", "-t", "=b:", "-c", &s.dir.path().display().to_string()])
        .args(["-e", &env("CTMUX_STATE_DIR", s.state.path()), "-e", &env("XDG_RUNTIME_DIR", s.state.path())])
        .args(["-e", "CTMUX_TMUX_CONF=/dev/null", &attach_a])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let terminal_on_a = || {
        s.tmux(&["list-clients", "-F", "#{client_flags}\t#{session_name}"])
            .lines()
            .any(|l| l.ends_with("\ta") && !l.contains("control-mode"))
    };
    assert!(eventually(Duration::from_secs(10), terminal_on_a), "{}", s.tmux(&["list-clients"]));
    let clients = control_clients(&s);
    assert_eq!(sessions(&clients), ["a", "b"], "{clients:?}");
    assert!(clients.iter().all(|c| parent(c.0) == Some(daemon)), "{clients:?}");
}
