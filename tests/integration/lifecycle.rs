//! The daemon's and the verbs' lifecycle semantics, each on a real tmux server with 8+ panes:
//! stops that work (interactive shells hang up; what a killed server left is still the
//! project's), the restart budget, GC on time and with judgement, and hand-off without polling.

use std::time::{Duration, Instant};

use crate::harness::{Server, eventually, read_dir_pids};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')').is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
}

/// Processes whose environment holds `CTMUX_PROJECT=project` and `marker` in their argv.
fn marked(project: &str, marker: &str) -> Vec<u32> {
    read_dir_pids()
        .into_iter()
        .filter(|p| {
            let env = std::fs::read(format!("/proc/{p}/environ")).unwrap_or_default();
            let args = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let want = format!("CTMUX_PROJECT={project}");
            alive(*p)
                && env.split(|b| *b == 0).any(|v| v == want.as_bytes())
                && args.split(|b| *b == 0).any(|a| a == marker.as_bytes())
        })
        .collect()
}

/// A stack of interactive shells in every form (`[bash, -i]`, `[sh, -i]`, `bash`, no command)
/// beside plain processes: 10 panes.
const SHELLS: &str = "version: 1
name: hangup
sessions:
  sh:
    panes:
      b1: { command: [bash, -i] }
      b2: { command: [bash, -i] }
      s1: { command: [sh, -i] }
      s2: { command: [sh, -i] }
      word: { command: bash }
      plain: {}
  work:
    panes:
      w1: exec sleep 1000
      w2: exec sleep 1000
      w3: exec sleep 1000
      w4: exec sleep 1000
";

#[test]
fn interactive_shells_stop_with_a_hang_up_not_after_the_timeout_and_sigkill() {
    let s = Server::new(SHELLS);
    s.expect(&["up", "--wait", "--timeout", "20s"], 0);
    assert_eq!(s.panes().len(), 10);
    // The shells have started (an interactive shell reads its startup files first).
    assert!(eventually(Duration::from_secs(10), || s.panes().iter().all(|p| !p.3 && p.2 > 0)));
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let doc = json(&s.expect(&["--json", "stop", "sh"], 0));
    let took = t.elapsed();
    let stopped = doc["stopped"].as_array().unwrap();
    assert_eq!(stopped.len(), 6, "{doc}");
    for p in stopped {
        assert_eq!(p["killed"], false, "{} needed SIGKILL: {doc}", p["address"]);
        assert_eq!(p["survivors"].as_array().unwrap().len(), 0, "{doc}");
    }
    assert!(took < Duration::from_secs(5), "stop of 6 shells took {took:?}");
    s.expect(&["up", "--wait", "--timeout", "20s"], 0);
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let doc = json(&s.expect(&["--json", "down"], 0));
    let took = t.elapsed();
    assert_eq!(doc["stopped"].as_array().unwrap().len(), 10, "{doc}");
    assert!(doc["stopped"].as_array().unwrap().iter().all(|p| p["killed"] == false), "{doc}");
    assert!(took < Duration::from_secs(5), "down of 10 panes took {took:?}");
    // `config` says what the pane's stop signal is.
    let config = s.expect(&["config"], 0);
    assert!(config.matches("signal: SIGHUP").count() >= 5, "{config}");
}

/// Ten panes, one of which leaves a `nohup` child behind when its server dies (`sleep MARKER`,
/// a number of seconds no other process uses).
fn survivor_manifest(project: &str, marker: &str) -> String {
    let mut m = format!("version: 1\nname: {project}\nsessions:\n  s:\n    panes:\n");
    m.push_str(&format!("      bg: \"nohup sleep {marker} >/dev/null 2>&1 & exec sleep 1000\"\n"));
    for i in 0..9 {
        m.push_str(&format!("      p{i}: exec sleep 1000\n"));
    }
    m
}

#[test]
fn down_stops_what_a_killed_tmux_server_left_running_and_says_so() {
    let marker = format!("1001.{}", std::process::id());
    let s = Server::new(&survivor_manifest("relic", &marker));
    s.expect(&["up"], 0);
    assert_eq!(s.panes().len(), 10);
    assert!(eventually(Duration::from_secs(5), || marked("relic", &marker).len() == 1));
    let child = marked("relic", &marker)[0];
    s.tmux(&["kill-server"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(alive(child), "the nohup child died with its server: nothing to test");
    // The server is gone: `down` still finds the project's process by its marks and socket.
    let out = s.ctmux(&["--json", "down"]);
    let doc = json(&String::from_utf8_lossy(&out.stdout));
    assert!(eventually(Duration::from_secs(3), || !alive(child)), "pid {child} survived `down`: {doc}");
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["stopped"][0]["address"], "s/bg", "{doc}");
    // A second project's process on another server is never touched.
}

#[test]
fn up_stops_what_a_killed_tmux_server_left_running_before_it_starts_again() {
    let marker = format!("1002.{}", std::process::id());
    let s = Server::new(&survivor_manifest("relic2", &marker));
    // The same project on a second server, side by side: its processes are not this server's.
    let other = Server::new(&survivor_manifest("relic2", &marker));
    s.expect(&["up"], 0);
    other.expect(&["up"], 0);
    assert!(eventually(Duration::from_secs(5), || marked("relic2", &marker).len() == 2));
    let before = marked("relic2", &marker);
    s.tmux(&["kill-server"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(marked("relic2", &marker), before, "a nohup child died with its server");
    s.expect(&["up"], 0);
    assert!(eventually(Duration::from_secs(5), || marked("relic2", &marker).len() == 2));
    let after = marked("relic2", &marker);
    let kept: Vec<&u32> = before.iter().filter(|p| after.contains(p)).collect();
    // Exactly one of the old ones lives on: the other server's.
    assert_eq!(kept.len(), 1, "before {before:?}, after {after:?}");
    let other_child = *kept[0];
    s.expect(&["down"], 0);
    other.expect(&["down"], 0);
    assert!(eventually(Duration::from_secs(3), || !alive(other_child)));
    assert!(marked("relic2", &marker).is_empty());
}

/// `status --json`'s document for pane `address`.
fn pane_doc(s: &Server, address: &str) -> serde_json::Value {
    let doc = s.status();
    doc["panes"].as_array().unwrap().iter().find(|p| p["address"] == address).cloned().unwrap_or_default()
}

fn runs(s: &Server) -> usize {
    crate::harness::read(&s.path("runs")).lines().count()
}

#[test]
fn a_manual_restart_gives_the_budget_back_and_giving_up_is_an_event_and_a_status() {
    let mut m = String::from(
        "version: 1\nname: budget\nsessions:\n  s:\n    panes:\n      crash:\n        command: echo run >> runs; exit 3\n        restart: on-failure\n        max_restarts: 2\n",
    );
    for i in 0..8 {
        m.push_str(&format!("      p{i}: exec sleep 1000\n"));
    }
    let s = Server::new(&m);
    s.expect(&["up"], 0);
    assert_eq!(s.panes().len(), 9);
    // The first run and two restarts (1 s, then 2 s of backoff), then the daemon gives up.
    assert!(
        eventually(Duration::from_secs(15), || pane_doc(&s, "s/crash")["gave_up"] == true),
        "{}",
        pane_doc(&s, "s/crash")
    );
    assert_eq!(runs(&s), 3);
    let doc = pane_doc(&s, "s/crash");
    assert_eq!((doc["restarts"].as_u64(), doc["state"].as_str()), (Some(2), Some("exited")), "{doc}");
    let text = s.expect(&["status"], 0);
    assert!(text.contains("gave up after 2 restarts"), "{text}");
    let events = json(&s.expect(&["--json", "events", "--kind", "pane.gave_up"], 0));
    let events = events["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["max_restarts"], 2, "{events:?}");
    assert_eq!(events[0]["data"]["status"], 3, "{events:?}");
    // A manual restart: the pane crashes again and the policy has its whole budget again.
    s.expect(&["restart", "s/crash"], 0);
    assert!(
        eventually(Duration::from_secs(15), || runs(&s) == 6 && pane_doc(&s, "s/crash")["gave_up"] == true),
        "runs {}, {}",
        runs(&s),
        pane_doc(&s, "s/crash")
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(runs(&s), 6, "restarted past its budget");
    let events = json(&s.expect(&["--json", "events", "--kind", "pane.gave_up"], 0));
    assert_eq!(events["events"].as_array().unwrap().len(), 2, "{events}");
    // `start` of the stopped pane does too.
    s.expect(&["stop", "s/crash"], 0);
    assert_eq!(pane_doc(&s, "s/crash")["gave_up"], false);
    s.expect(&["start", "s/crash"], 0);
    assert!(eventually(Duration::from_secs(15), || runs(&s) == 9), "runs {}", runs(&s));
    s.expect(&["down"], 0);
}

/// Polls tmux every 20 ms for `timeout`: for each pane address, when it was first seen dead
/// and when it was first seen gone (as offsets from the start).
fn watch_removals(s: &Server, addresses: &[&str], timeout: Duration) -> Vec<(Option<Duration>, Option<Duration>)> {
    let start = Instant::now();
    let mut seen = vec![(None, None); addresses.len()];
    while start.elapsed() < timeout {
        let panes = s.panes();
        for (i, a) in addresses.iter().enumerate() {
            match panes.iter().find(|p| p.0 == *a) {
                Some(p) if p.3 && seen[i].0.is_none() => seen[i].0 = Some(start.elapsed()),
                None if seen[i].0.is_some() && seen[i].1.is_none() => seen[i].1 = Some(start.elapsed()),
                _ => {}
            }
        }
        if seen.iter().all(|s| s.1.is_some()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    seen
}

#[test]
fn gc_collects_within_a_second_of_due_keeps_a_busy_shell_and_plan_says_a_removed_job_reruns() {
    let s = Server::new(
        "version: 1
name: tidy
gc: { exited: 2s }
sessions:
  jobs:
    panes:
      j1: { command: 'sleep 0.5', job: true }
      j2: { command: 'sleep 1.3', job: true }
      j3: { command: 'sleep 2.1', job: true }
      j4: { command: 'sleep 3.7', job: true }
      w1: exec sleep 1000
      w2: exec sleep 1000
  busy:
    gc: { idle: 3s }
    shell: /bin/sh
    panes:
      sh: {}
  quiet:
    gc: { idle: 3s }
    shell: /bin/sh
    panes:
      sh: {}
  more:
    panes:
      w3: exec sleep 1000
      w4: exec sleep 1000
",
    );
    s.expect(&["up"], 0);
    assert_eq!(s.panes().len(), 10);
    // A background job in one shell: its session is not idle.
    s.tmux(&["send-keys", "-t", "=busy:", "sleep 300 &", "Enter"]);
    let jobs = ["jobs/j1", "jobs/j2", "jobs/j3", "jobs/j4"];
    let seen = watch_removals(&s, &jobs, Duration::from_secs(20));
    for (a, (dead, gone)) in jobs.iter().zip(&seen) {
        let (dead, gone) = (
            dead.unwrap_or_else(|| panic!("{a} never seen dead")),
            gone.unwrap_or_else(|| panic!("{a} never removed: {seen:?}")),
        );
        let after = gone - dead;
        // Due 2 s after the exit, rounded up to the whole second GC counts in: removed within
        // a second of the exact due time (plus a loaded machine's latency), never before.
        assert!(after <= Duration::from_millis(3300), "{a} removed {after:?} after its exit: {seen:?}");
        assert!(after >= Duration::from_millis(1950), "{a} removed {after:?} after its exit: {seen:?}");
    }
    eprintln!("exit → removal: {:?}", seen.iter().map(|(d, g)| g.unwrap() - d.unwrap()).collect::<Vec<_>>());
    // The quiet shell's session went after 3 s of no output; the busy one stays.
    assert!(
        eventually(Duration::from_secs(8), || !s.panes().iter().any(|p| p.0 == "quiet/sh")),
        "the idle shell session was not collected"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(s.panes().iter().any(|p| p.0 == "busy/sh"), "a shell running `sleep 300 &` was collected as idle");
    let gc = s.expect(&["gc", "--dry-run"], 0);
    assert!(!gc.contains("busy"), "{gc}");
    // The next `up` runs the removed jobs again, and `plan` says so.
    let plan = s.expect(&["plan"], 0);
    for a in jobs {
        assert!(plan.contains(&format!("+ create   {a} (rerun job")), "{plan}");
    }
    assert!(plan.contains("+ create   quiet/sh\n"), "{plan}");
    let doc = json(&s.expect(&["--json", "plan"], 0));
    let step = doc["changes"].as_array().unwrap().iter().find(|st| st["address"] == "jobs/j1").cloned().unwrap();
    assert!(step["reason"].as_str().unwrap_or_default().starts_with("rerun job"), "{doc}");
    s.expect(&["up"], 0);
    let plan = s.expect(&["plan"], 0);
    assert!(!plan.contains("rerun job"), "{plan}");
    s.expect(&["down"], 0);
}

#[test]
fn a_restart_waiting_out_its_backoff_still_happens_when_the_daemon_is_sigkilled_meanwhile() {
    let mut m = String::from(
        "version: 1\nname: owed\nsessions:\n  s:\n    panes:\n      crash:\n        command: sleep 1; echo run >> runs; exit 3\n        restart: on-failure\n",
    );
    for i in 0..8 {
        m.push_str(&format!("      p{i}: exec sleep 1000\n"));
    }
    let s = Server::new(&m);
    s.expect(&["up"], 0);
    let status = json(&s.expect(&["--json", "daemon", "status"], 0));
    let daemon = status["status"]["pid"].as_u64().expect("daemon pid") as i32;
    // The daemon recorded the exit (and owes a restart in 1 s): killed now.
    let id = s.panes().into_iter().find(|p| p.0 == "s/crash").unwrap().1;
    let recorded = || {
        let f = s.tmux(&["display-message", "-p", "-t", &id, "#{pane_dead} #{pane_pid} #{@ctmux-exit-seen}"]);
        let f: Vec<&str> = f.split_whitespace().collect();
        f.len() == 3 && f[0] == "1" && f[1] == f[2]
    };
    let start = Instant::now();
    while !recorded() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(recorded(), "the daemon never recorded the exit");
    // SAFETY: kill(2) on the daemon this test's `up` started.
    unsafe { libc::kill(daemon, libc::SIGKILL) };
    assert_eq!(runs(&s), 1, "restarted before the kill: nothing to test");
    // The supervisor brings a daemon back, which owes the restart.
    assert!(eventually(Duration::from_secs(8), || runs(&s) >= 2), "the restart was lost with the daemon");
    let restarted = json(&s.expect(&["--json", "events", "--kind", "pane.restarted"], 0));
    assert!(!restarted["events"].as_array().unwrap().is_empty(), "{restarted}");
    s.expect(&["down"], 0);
}
