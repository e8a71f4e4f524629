//! The event store, `events [-f]`, subscriptions, live health, and a daemon killed mid-burst.

use std::process::Stdio;
use std::time::Duration;

use crate::harness::{Server, eventually, lines_of, read};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn kinds(s: &Server, target: &str) -> Vec<String> {
    let doc = json(&s.expect(&["--json", "events", target], 0));
    doc["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

const LIFECYCLE: &str = r#"
version: 1
name: life
sessions:
  s:
    panes:
      web:
        command: "echo booting; sleep 0.3; echo ready to serve; exec sleep 1000"
        ready_when: 'ready to serve'
      job:
        command: "sleep 1.5; exit 3"
"#;

#[test]
fn events_are_recorded_and_subscriptions_run_and_survive_a_daemon_restart() {
    let s = Server::new(LIFECYCLE);
    s.expect(&["up"], 0);
    let hook = "read -r json; echo \"$CTMUX_EVENT $CTMUX_PANE $CTMUX_DATA_STATUS $json\" >> hook.txt";
    let sub = json(&s.expect(&["--json", "subscribe", "pane.exited", "--target", "job", "--", hook], 0));
    let id = sub["subscription"]["id"].as_i64().unwrap();
    assert!(eventually(Duration::from_secs(10), || read(&s.path("hook.txt")).lines().count() == 1));
    let line = read(&s.path("hook.txt"));
    assert!(line.starts_with("pane.exited s/job 3 {"), "{line}");
    let event = json(line.split_once(' ').unwrap().1.splitn(3, ' ').nth(2).unwrap());
    assert_eq!(event["data"]["status"], 3);
    assert_eq!(event["address"], "s/job");

    assert!(eventually(Duration::from_secs(5), || kinds(&s, "web").contains(&"health.changed".to_string())));
    assert!(eventually(Duration::from_secs(5), || s.status()["panes"][0]["health"] == "healthy"));
    let web = json(&s.expect(&["--json", "events", "--kind", "health.changed", "s/web"], 0));
    let changes: Vec<(&str, &str)> = web["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["data"]["from"].as_str().unwrap(), e["data"]["to"].as_str().unwrap()))
        .collect();
    assert_eq!(changes, [("none", "starting"), ("starting", "healthy")]);
    let shape = &web["events"][0];
    for key in ["id", "ts", "kind", "project", "session", "pane", "address", "data"] {
        assert!(shape.get(key).is_some(), "event without {key}: {shape}");
    }
    assert_eq!(kinds(&s, "job")[..2], ["pane.started", "pane.exited"]);

    // The subscription lives in the store: a new daemon runs it too.
    s.expect(&["daemon", "stop"], 0);
    s.expect(&["daemon", "start"], 0);
    let list = json(&s.expect(&["--json", "subscribe", "--list"], 0));
    assert_eq!(list["subscriptions"][0]["id"], id);
    s.expect(&["restart", "job"], 0);
    assert!(eventually(Duration::from_secs(10), || read(&s.path("hook.txt")).lines().count() == 2));

    s.expect(&["unsubscribe", &id.to_string()], 0);
    assert_eq!(s.ctmux(&["unsubscribe", &id.to_string()]).status.code(), Some(4));
    s.expect(&["restart", "job"], 0);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(read(&s.path("hook.txt")).lines().count(), 2, "ran after unsubscribe");

    let stopped = kinds(&s, "");
    assert!(stopped.contains(&"daemon.stopped".to_string()) && stopped.contains(&"daemon.started".to_string()));
    let bad = s.ctmux(&["events", "--kind", "pane.exitted"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("pane.exited"), "no suggestion");
    assert_eq!(s.ctmux(&["subscribe", "pane.exited", "--match", "(", "--", "true"]).status.code(), Some(2));
}

#[test]
fn events_follow_streams_new_events_as_json_lines() {
    let s = Server::new("version: 1\nname: fol\nsessions:\n  s:\n    panes:\n      p: exec sleep 1000\n");
    s.expect(&["up"], 0);
    let mut child =
        s.cmd(&["--json", "events", "-f", "--kind", "pane.*", "-n", "0"]).stdout(Stdio::piped()).spawn().unwrap();
    let rx = lines_of(&mut child);
    std::thread::sleep(Duration::from_millis(500));
    s.expect(&["restart", "p"], 0);
    let mut got = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        let e = json(&line);
        assert_eq!(e["schema_version"], 1);
        got.push(e["kind"].as_str().unwrap().to_string());
        if got.contains(&"pane.started".to_string()) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(got.contains(&"pane.exited".to_string()) && got.contains(&"pane.started".to_string()), "{got:?}");
}

#[test]
fn a_failing_health_check_marks_the_pane_unhealthy_and_restarts_it() {
    let s = Server::new(
        r#"
version: 1
name: live
sessions:
  s:
    panes:
      p:
        command: "touch alive; exec sleep 1000"
        restart: on-failure
        health: { exec: "test -f alive", interval: 200ms, start_interval: 100ms, retries: 2, timeout: 1s }
"#,
    );
    s.expect(&["up"], 0);
    assert!(eventually(Duration::from_secs(10), || s.status()["panes"][0]["health"] == "healthy"));
    std::fs::remove_file(s.path("alive")).unwrap();
    assert!(eventually(Duration::from_secs(15), || s.status()["panes"][0]["restarts"] == 1), "{}", s.status());
    assert!(eventually(Duration::from_secs(10), || s.status()["panes"][0]["health"] == "healthy"));
    let doc = json(&s.expect(&["--json", "events", "--kind", "health.changed"], 0));
    let to: Vec<&str> = doc["events"].as_array().unwrap().iter().map(|e| e["data"]["to"].as_str().unwrap()).collect();
    assert_eq!(to, ["starting", "healthy", "unhealthy", "starting", "healthy"]);
    assert!(kinds(&s, "p").contains(&"pane.restarted".to_string()));
}

#[test]
fn a_daemon_killed_mid_burst_resumes_the_log_without_gap_or_repeat_and_runs_no_action_twice() {
    let s = Server::new(
        r#"
version: 1
name: kill
sessions:
  b:
    panes:
      p:
        command: |
          echo start-A
          sleep 0.5
          seq 1 40000 | while read n; do echo $$n; case $$n in *000) sleep 0.05;; esac; done
          echo END
          exec sleep 1000
        on:
          - { match: '^start-A$', do: { run: 'echo a >> fired.txt' } }
          - { match: '^END$', do: { run: 'echo end >> fired.txt' } }
"#,
    );
    // tmux's default history-limit (2,000) lost thousands of these lines; the product sets its
    // own (history_limit, default 50,000) on the panes it creates.
    s.expect(&["up"], 0);
    assert_eq!(s.tmux(&["show-options", "-gv", "history-limit"]).trim(), "2000", "the global option changed");
    assert_eq!(s.tmux(&["display-message", "-p", "-t", "=b:", "#{history_limit}"]).trim(), "50000");
    let log = s.logs().join("kill/b/p.log");
    let numbers = || -> Vec<u64> { read(&log).lines().filter_map(|l| l.split_once('\t')?.1.parse().ok()).collect() };
    assert!(eventually(Duration::from_secs(20), || numbers().len() >= 5000), "burst did not start");
    let status = json(&s.expect(&["--json", "daemon", "status"], 0));
    let pid = status["status"]["pid"].as_i64().unwrap();
    // SAFETY: kill(2) on the daemon we started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let at_kill = numbers().len();
    assert!(at_kill < 40_000, "the burst ended before the kill");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!s.panes().iter().any(|p| p.3), "panes died with the daemon");
    s.expect(&["daemon", "start"], 0);
    assert!(eventually(Duration::from_secs(30), || read(&log).contains("\tEND\n")), "log did not resume");
    let got = numbers();
    let expected: Vec<u64> = (1..=40_000).collect();
    if got != expected {
        let dups = got.windows(2).filter(|w| w[1] <= w[0]).count();
        let gaps = got.windows(2).filter(|w| w[1] > w[0] + 1).count();
        panic!("{} lines, {dups} repeats, {gaps} gaps (killed at {at_kill})", got.len());
    }
    assert!(eventually(Duration::from_secs(5), || read(&s.path("fired.txt")) == "a\nend\n"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(read(&s.path("fired.txt")), "a\nend\n", "an action ran twice");
}

/// Issue 5: `pane wait --match` is satisfied by output that arrives 1 ms after the call — before
/// the process has even looked at tmux. The daemon's log (a time on every line) covers that.
#[test]
fn wait_match_sees_output_1ms_after_the_call_through_the_daemon_log() {
    let s = Server::new(
        r#"
version: 1
name: quick
sessions:
  s:
    panes:
      sig:
        command: ["python3", "-c", "import signal\nsignal.signal(signal.SIGUSR1, lambda *a: print('MARK-42', flush=True))\nprint('armed', flush=True)\nwhile True: signal.pause()"]
"#,
    );
    s.expect(&["up"], 0);
    let pid = s.panes()[0].2;
    assert!(eventually(Duration::from_secs(10), || s.expect(&["logs", "--no-prefix"], 0).contains("armed")));
    for round in 0..5 {
        let child = s
            .cmd(&["--json", "pane", "wait", "s/sig", "--match", "^MARK-42$", "--timeout", "5s"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1));
        // SAFETY: kill(2) on the pane process this test started.
        unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "round {round}: {}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(json(&String::from_utf8_lossy(&out.stdout))["matched"], "MARK-42");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Output from before the call does not count.
    let out = s.ctmux(&["--json", "pane", "wait", "s/sig", "--match", "^MARK-42$", "--timeout", "300ms"]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn a_command_that_fails_at_once_still_gets_its_exit_event_and_restart() {
    let s = Server::new(
        "version: 1\nname: quickfail\nshell: /bin/sh\nsessions:\n  s:\n    panes:\n      boom:\n        command: echo boom; exit 3\n        restart: on-failure\n        max_restarts: 1\n      missing: no-such-command-xyz\n",
    );
    s.expect(&["up"], 0);
    let exits = || -> Vec<(String, serde_json::Value)> {
        let doc = json(&s.expect(&["--json", "events", "--kind", "pane.exited"], 0));
        doc["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["pane"].as_str().unwrap().to_string(), e["data"]["status"].clone()))
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(10), || exits().iter().filter(|(p, _)| p == "boom").count() == 2),
        "{:?}",
        exits()
    );
    assert!(exits().contains(&("missing".to_string(), serde_json::json!(127))), "{:?}", exits());
    assert!(kinds(&s, "boom").contains(&"pane.restarted".to_string()));
    // Never more lines than the runs printed: an exit capture logs only rows below where this
    // run started (a respawn keeps the history above it). tmux 3.3a can close the terminal of a
    // process that exits within a millisecond of printing before reading that output (see
    // architecture.md), so a run's only line may be missing, never repeated.
    let log = s.expect(&["logs", "--no-prefix", "boom"], 0);
    assert!(log.lines().all(|l| l == "boom") && (1..=2).contains(&log.lines().count()), "{log:?}");
}

#[test]
fn exits_are_told_by_tmux_hooks_that_ctmux_owns_and_removes() {
    // The process exits while a child it left runs on: tmux reaps it (pane dead, status 4) and
    // its pane-died hook tells the daemon; `pane wait --exit` waits the same way.
    let s = Server::new(
        "version: 1\nname: late\nshell: /bin/sh\nsessions:\n  s:\n    panes:\n      job: (sleep 0.5) & echo parent-exits; sleep 0.3; exit 4\n",
    );
    s.expect(&["up"], 0);
    let out = s.ctmux(&["--json", "pane", "wait", "s/job", "--exit", "--timeout", "10s"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(json(&String::from_utf8_lossy(&out.stdout))["exit_status"], 4);
    let exited = || json(&s.expect(&["--json", "events", "--kind", "pane.exited", "s/job"], 0));
    assert!(eventually(Duration::from_secs(5), || exited()["events"].as_array().unwrap().len() == 1));
    assert_eq!(exited()["events"][0]["data"]["status"], 4);
    assert!(s.expect(&["logs", "--no-prefix", "s/job"], 0).contains("parent-exits"));
    // `pane wait` removed its hook; the daemon's is the only one, until it stops.
    let set = |hook: &str| -> Vec<String> {
        s.tmux(&["show-hooks", "-g", hook]).lines().filter(|l| l.contains('[')).map(str::to_string).collect()
    };
    assert!(
        set("pane-died").len() == 1 && set("pane-died")[0].starts_with("pane-died[4242]"),
        "{:?}",
        set("pane-died")
    );
    assert!(set("pane-exited").is_empty(), "{:?}", set("pane-exited"));
    s.expect(&["daemon", "stop"], 0);
    assert!(set("pane-died").is_empty(), "{:?}", set("pane-died"));
}
