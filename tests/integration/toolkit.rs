//! Verbs of the toolkit ctmux replaces: subscriptions on any pane, output-match and wait-timeout
//! events, the daemon's log.

use std::time::Duration;

use crate::harness::{Server, eventually};

#[test]
fn daemon_logs_n_prints_the_last_n_lines_of_the_daemon_log() {
    let s = Server::new(
        "version: 1\nname: dl\nsessions:\n  s:\n    panes:\n      a: { command: echo hi; sleep 1000 }\n      b: { command: echo bye, restart: \"no\" }\n",
    );
    s.expect(&["up"], 0);
    assert!(eventually(Duration::from_secs(10), || s.expect(&["daemon", "logs"], 0).lines().count() >= 4));
    let all = s.expect(&["daemon", "logs"], 0);
    let all: Vec<&str> = all.lines().collect();
    let two = s.expect(&["daemon", "logs", "-n", "2"], 0);
    let two: Vec<&str> = two.lines().collect();
    // The daemon may log more between the two reads: the last two are the newest two.
    assert_eq!(two.len(), 2, "{two:?}");
    assert!(all.windows(2).any(|w| w == two.as_slice()) || !all.contains(&two[0]), "{two:?} not the tail of {all:?}");
    assert_eq!(s.expect(&["daemon", "logs", "-n", "0"], 0), "");
    assert_eq!(
        s.expect(&["daemon", "logs", "--lines", "1000"], 0).lines().count(),
        s.expect(&["daemon", "logs"], 0).lines().count()
    );
    assert_eq!(s.ctmux(&["daemon", "logs", "-n", "many"]).status.code(), Some(2));
}

/// A session ctmux knows nothing about, with panes past %9.
fn free_session(s: &Server) {
    s.tmux(&["-f", "/dev/null", "new-session", "-d", "-s", "free", "-x", "120", "-y", "40", "sleep 1000"]);
    for _ in 0..9 {
        s.tmux(&["new-window", "-d", "-t", "free:", "sleep 1000"]);
    }
}

#[test]
fn subscriptions_see_panes_ctmux_did_not_create_and_output_that_matches() {
    let s = Server::new("version: 1\nname: sub\nsessions:\n  s:\n    panes:\n      a: { command: sleep 1000 }\n");
    free_session(&s);
    s.expect(
        &[
            "subscribe",
            "pane.exited",
            "--target",
            "free",
            "--",
            "echo \"$CTMUX_DATA_TMUX_ID $CTMUX_SESSION\" >> exits.txt",
        ],
        0,
    );
    s.expect(
        &[
            "subscribe",
            "pane.output",
            "--target",
            "free",
            "--match",
            "READY (\\d+)",
            "--",
            "echo \"$CTMUX_DATA_TEXT\" >> out.txt",
        ],
        0,
    );
    // Without --match, every line would be an event: refused.
    assert_eq!(s.ctmux(&["subscribe", "pane.output", "--", "true"]).status.code(), Some(2));
    let id = s
        .tmux(&[
            "new-window",
            "-d",
            "-P",
            "-F",
            "#{pane_id}",
            "-t",
            "free:",
            "sleep 0.5; echo noise; echo READY 42; sleep 0.5; exit 3",
        ])
        .trim()
        .to_string();
    assert!(id.trim_start_matches('%').parse::<u32>().unwrap() > 9, "{id}");
    assert!(eventually(Duration::from_secs(10), || crate::harness::read(&s.path("exits.txt")).contains(&id)));
    assert_eq!(crate::harness::read(&s.path("exits.txt")).trim(), format!("{id} free"));
    assert!(eventually(Duration::from_secs(5), || !crate::harness::read(&s.path("out.txt")).is_empty()));
    assert_eq!(crate::harness::read(&s.path("out.txt")), "READY 42\n", "only the matching line");
    let doc: serde_json::Value =
        serde_json::from_str(&s.expect(&["--json", "events", "--kind", "pane.output"], 0)).unwrap();
    let events = doc["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{doc}");
    assert_eq!(events[0]["data"]["tmux_id"], id.as_str());
}

#[test]
fn a_wait_that_times_out_is_an_event_subscriptions_see() {
    let s = Server::new("version: 1\nname: wt\nsessions:\n  s:\n    panes:\n      a: { command: sleep 1000 }\n");
    free_session(&s);
    s.expect(
        &["subscribe", "wait.timeout", "--", "echo \"$CTMUX_DATA_TMUX_ID $CTMUX_DATA_WAITED_FOR\" >> timeouts.txt"],
        0,
    );
    let id = s.tmux(&["display-message", "-p", "-t", "free:0", "#{pane_id}"]).trim().to_string();
    assert_eq!(s.ctmux(&["pane", "wait", &id, "--match", "NEVER", "--timeout", "300ms"]).status.code(), Some(3));
    assert!(eventually(Duration::from_secs(5), || !crate::harness::read(&s.path("timeouts.txt")).is_empty()));
    assert_eq!(crate::harness::read(&s.path("timeouts.txt")), format!("{id} match\n"));
    let doc: serde_json::Value =
        serde_json::from_str(&s.expect(&["--json", "events", "--kind", "wait.timeout"], 0)).unwrap();
    assert_eq!(doc["events"][0]["data"]["timeout_ms"], 300, "{doc}");
}

#[test]
fn an_unmanaged_pane_kept_dead_reports_its_exit_status_to_subscriptions() {
    let s = Server::new("version: 1\nname: kd\nsessions:\n  s:\n    panes:\n      a: { command: sleep 1000 }\n");
    free_session(&s);
    s.tmux(&["set-option", "-g", "remain-on-exit", "on"]);
    s.expect(
        &[
            "subscribe",
            "pane.exited",
            "--target",
            "free",
            "--",
            "echo \"$CTMUX_DATA_TMUX_ID $CTMUX_DATA_STATUS\" >> exits.txt",
        ],
        0,
    );
    let id =
        s.tmux(&["new-window", "-d", "-P", "-F", "#{pane_id}", "-t", "free:", "sleep 0.3; exit 3"]).trim().to_string();
    assert!(eventually(Duration::from_secs(10), || crate::harness::read(&s.path("exits.txt")).contains(&id)));
    assert_eq!(crate::harness::read(&s.path("exits.txt")), format!("{id} 3\n"));
}
