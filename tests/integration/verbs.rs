//! The imperative verbs (`session …`, `pane …`) on managed and unmanaged panes, human and JSON.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::{Server, eventually};

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// A server with an unmanaged session `work` running `sh` (login shells can be slow to start).
fn with_shell() -> Server {
    let s = Server::new(
        "version: 1\nname: verbs\nsessions:\n  app:\n    panes:\n      api: echo api-ready; exec sleep 1000\n",
    );
    s.expect(&["session", "new", "work", "--", "sh"], 0);
    s
}

#[test]
fn session_new_ls_kill_and_health() {
    let s = with_shell();
    s.expect(&["up"], 0);
    let ls = json(&s.expect(&["--json", "session", "ls"], 0));
    let names: Vec<&str> = ls["sessions"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["app", "work"]);
    assert_eq!(ls["sessions"][0]["project"], "verbs");
    let health = json(&s.expect(&["--json", "session", "health", "work"], 0));
    assert_eq!(health["health"], "healthy");
    s.expect(&["pane", "new", "work", "--", "sh", "-c", "exit 7"], 0);
    assert!(eventually(Duration::from_secs(5), || s.ctmux(&["session", "health", "work"]).status.code() == Some(1)));
    let health = json(&String::from_utf8_lossy(&s.ctmux(&["--json", "session", "health", "work"]).stdout));
    assert_eq!(health["health"], "degraded");
    assert!(health["reasons"][0].as_str().unwrap().contains("exited with status 7"), "{health}");
    s.expect(&["session", "kill", "work"], 0);
    let out = s.ctmux(&["session", "kill", "wrok"]);
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn exec_wait_returns_status_and_only_that_commands_output() {
    let s = with_shell();
    let doc = json(&s.expect(
        &[
            "--json",
            "pane",
            "exec",
            "work",
            "--wait",
            "--timeout",
            "10s",
            "--",
            "echo before; ls /nonexistent-ctmux; false",
        ],
        1,
    ));
    assert_eq!(doc["exit_status"], 1);
    assert_eq!(doc["timed_out"], false);
    let output = doc["output"].as_str().unwrap();
    assert!(output.starts_with("before\n"), "{output:?}");
    assert!(output.contains("/nonexistent-ctmux"), "{output:?}");
    assert_eq!(output.lines().count(), 2, "{output:?}");
    let ok = json(&s.expect(&["--json", "pane", "exec", "work", "--wait", "--", "echo ok"], 0));
    assert_eq!(ok["output"], "ok\n");
}

#[test]
fn exec_wait_returns_all_of_50000_lines() {
    let s = with_shell();
    let out = s.expect(&["pane", "exec", "work", "--wait", "--timeout", "60s", "--", "seq 1 50000"], 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 50_000);
    assert_eq!(lines[0], "1");
    assert_eq!(lines[49_999], "50000");
}

#[test]
fn exec_timeout_exits_3_and_leaves_the_command_running_unless_told() {
    let s = with_shell();
    let doc = json(&String::from_utf8_lossy(
        &s.ctmux(&["--json", "pane", "exec", "work", "--wait", "--timeout", "300ms", "--", "sleep 30"]).stdout,
    ));
    assert_eq!(doc["timed_out"], true);
    assert_eq!(doc["exit_status"], serde_json::Value::Null);
    assert_eq!(
        s.tmux(&["display-message", "-p", "-t", "work", "#{pane_current_command}"]).trim(),
        "sleep",
        "the command was stopped"
    );
    s.expect(&["session", "new", "other", "--", "sh"], 0);
    let out =
        s.ctmux(&["pane", "exec", "other", "--wait", "--timeout", "300ms", "--kill-on-timeout", "--", "sleep 30"]);
    assert_eq!(out.status.code(), Some(3));
    // Interrupted: the shell is free again and runs the next command.
    s.expect(&["pane", "exec", "other", "--wait", "--timeout", "10s", "--", "true"], 0);
}

/// Output typed soon after `pane wait` starts in an *unmanaged* pane (no daemon log) is seen,
/// whether it lands before or after the control client attaches. An unmanaged pane counts from
/// ctmux's first look (~5 ms after the start on an idle machine, but tens of ms when the test
/// binary's other tests load both cores — this waited 20 ms and flaked then), so the line comes
/// 150 ms after the call. Managed panes are covered down to 1 ms after the call by
/// `events::wait_match_sees_output_1ms_after_the_call_…`.
#[test]
fn wait_match_sees_output_that_arrives_soon_after_the_call() {
    let s = with_shell();
    for _ in 0..5 {
        let child = s
            .cmd(&["--json", "pane", "wait", "work", "--match", "^MARK-[0-9]+$", "--timeout", "10s"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150));
        s.tmux(&["send-keys", "-t", "work", "-l", "echo MARK-$((40+2))"]);
        s.tmux(&["send-keys", "-t", "work", "Enter"]);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(json(&String::from_utf8_lossy(&out.stdout))["matched"], "MARK-42");
        s.tmux(&["send-keys", "-t", "work", "clear", "Enter"]);
        s.tmux(&["clear-history", "-t", "work"]);
    }
}

#[test]
fn wait_match_times_out_with_exit_3_and_since_start_sees_old_output() {
    let s = with_shell();
    s.expect(&["up"], 0);
    assert!(eventually(Duration::from_secs(5), || s.ctmux(&["pane", "has", "app/api", "api-ready"]).status.success()));
    let start = Instant::now();
    let out = s.ctmux(&["--json", "pane", "wait", "app/api", "--match", "api-ready", "--timeout", "400ms"]);
    assert_eq!(out.status.code(), Some(3), "old output matched without --since-start");
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(json(&String::from_utf8_lossy(&out.stdout))["timed_out"], true);
    let doc =
        json(&s.expect(
            &["--json", "pane", "wait", "app/api", "--match", "api-ready", "--since-start", "--timeout", "5s"],
            0,
        ));
    assert_eq!(doc["matched"], "api-ready");
}

#[test]
fn wait_exit_reports_the_status() {
    let s = with_shell();
    let id = s.expect(&["pane", "new", "work", "--", "sh", "-c", "sleep 0.3; exit 5"], 0).trim().to_string();
    let doc = json(&s.expect(&["--json", "pane", "wait", &id, "--exit", "--timeout", "10s"], 0));
    assert_eq!(doc["exit_status"], 5);
}

/// The exit races tmux's reaping (the pidfd fires first, then tmux reaps while the wait sets its
/// hooks): every outcome of that race must give the status, promptly, and leave no hook.
#[test]
fn wait_exit_survives_racing_tmux_to_the_reap() {
    let s = with_shell();
    for status in 1..=12 {
        let cmd = format!("sleep 0.05; exit {status}");
        let id = s.expect(&["pane", "new", "work", "--", "sh", "-c", &cmd], 0).trim().to_string();
        let start = std::time::Instant::now();
        let doc = json(&s.expect(&["--json", "pane", "wait", &id, "--exit", "--timeout", "5s"], 0));
        assert_eq!(doc["exit_status"], status, "{doc}");
        assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
        s.expect(&["pane", "kill", &id], 0);
    }
    assert!(!s.tmux(&["show-hooks", "-g"]).contains("ctmux-reaped"), "hooks left behind");
}

#[test]
fn signal_stops_a_process_that_ignores_ctrl_c() {
    let s = with_shell();
    s.expect(&["pane", "exec", "work", "--", "trap '' INT; echo trapped; sleep 1000"], 0);
    assert!(eventually(Duration::from_secs(5), || s.ctmux(&["pane", "has", "work", "^trapped$"]).status.success()));
    s.expect(&["pane", "send-keys", "work", "C-c"], 0);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        s.tmux(&["display-message", "-p", "-t", "work", "#{pane_current_command}"]).trim() == "sleep",
        "C-c should be ignored"
    );
    s.expect(&["pane", "signal", "work", "TERM"], 0);
    assert!(eventually(Duration::from_secs(5), || s
        .tmux(&["display-message", "-p", "-t", "work", "#{pane_current_command}"])
        .trim()
        == "sh"));
}

#[test]
fn capture_has_find_ls_count_meta_on_managed_and_unmanaged_panes() {
    let s = with_shell();
    s.expect(&["up"], 0);
    s.expect(&["pane", "exec", "work", "--wait", "--", "printf 'alpha\\nbeta\\n'"], 0);
    let cap = json(&s.expect(&["--json", "pane", "capture", "work", "-n", "50"], 0));
    assert!(cap["output"].as_str().unwrap().contains("alpha\nbeta"), "{cap}");
    assert!(eventually(Duration::from_secs(5), || s.ctmux(&["pane", "has", "app/api", "api-ready"]).status.success()));
    assert_eq!(s.ctmux(&["pane", "has", "app/api", "no-such-text"]).status.code(), Some(1));
    let found = json(&s.expect(&["--json", "pane", "find", "api-ready", "--all-sessions"], 0));
    assert_eq!(found["panes"][0]["address"], "app/api");
    let all = json(&s.expect(&["--json", "pane", "count", "--all-sessions"], 0));
    assert_eq!(all["count"], 2);
    let mine = json(&s.expect(&["--json", "pane", "count"], 0));
    assert_eq!(mine["count"], 1, "without --all-sessions: the project's panes");
    s.expect(&["pane", "meta", "set", "app/api", "owner", "team a"], 0);
    s.expect(&["pane", "meta", "set", "work", "role", "scratch"], 0);
    assert_eq!(s.expect(&["pane", "meta", "get", "app/api", "owner"], 0).trim(), "team a");
    let ls = json(&s.expect(&["--json", "pane", "ls", "--all-sessions", "--detailed"], 0));
    let panes = ls["panes"].as_array().unwrap();
    assert_eq!(panes.len(), 2);
    let api = panes.iter().find(|p| p["address"] == "app/api").unwrap();
    assert_eq!(api["metadata"]["owner"], "team a");
    let work = panes.iter().find(|p| p["address"].is_null()).unwrap();
    assert_eq!(work["metadata"]["role"], "scratch");
    for key in [
        "address",
        "tmux_id",
        "session",
        "window",
        "pane",
        "state",
        "health",
        "pid",
        "command",
        "cwd",
        "exit_status",
        "restarts",
        "metadata",
    ] {
        assert!(api.get(key).is_some(), "pane JSON lacks {key}");
    }
    s.expect(&["pane", "meta", "rm", "app/api", "owner"], 0);
    assert_eq!(s.ctmux(&["pane", "meta", "get", "app/api", "owner"]).status.code(), Some(4));
}

#[test]
fn bad_targets_exit_4_with_near_matches_and_a_dead_server_exits_5() {
    let s = with_shell();
    s.expect(&["up"], 0);
    let out = s.ctmux(&["--json", "pane", "capture", "app/apj"]);
    assert_eq!(out.status.code(), Some(4));
    let doc = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(doc["error"]["code"], "not_found");
    assert!(doc["error"]["hint"].as_str().unwrap().contains("app/api"), "{doc}");
    s.tmux(&["kill-server"]);
    let out = s.ctmux(&["pane", "ls"]);
    assert_eq!(out.status.code(), Some(5));
}

#[test]
fn stream_delivers_100000_fast_lines_without_gap_or_duplicate() {
    let s = with_shell();
    let id = s
        .expect(&["pane", "new", "work", "--", "sh", "-c", "sleep 0.7; seq 1 100000; sleep 0.3"], 0)
        .trim()
        .to_string();
    let out = s.expect(&["pane", "stream", &id, "--timeout", "60s"], 0);
    let numbers: Vec<u64> = out.lines().filter_map(|l| l.trim().parse().ok()).collect();
    assert_eq!(numbers.len(), 100_000, "lines lost or repeated");
    assert!(numbers.iter().enumerate().all(|(i, n)| *n == i as u64 + 1), "out of order");
}

#[test]
fn tail_prints_the_backlog_then_follows_without_repeating() {
    let s = with_shell();
    s.expect(&["pane", "exec", "work", "--wait", "--", "seq 1 5"], 0);
    let back = s.expect(&["pane", "tail", "work", "-n", "3"], 0);
    // exec's wrapper (typed into this plain `sh`) is not part of the reading.
    assert_eq!(back.lines().collect::<Vec<_>>(), ["3", "4", "5"], "{back}");
    let child = s
        .cmd(&["--json", "pane", "tail", "work", "-n", "2", "--follow", "--grep", "^(5|LIVE-.*)$", "--timeout", "3s"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    s.expect(&["pane", "exec", "work", "--", "echo LIVE-$((1+1))"], 0);
    let out = child.wait_with_output().unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(json).collect();
    let texts: Vec<&str> = lines.iter().map(|l| l["line"].as_str().unwrap()).collect();
    assert_eq!(texts, ["5", "LIVE-2"], "backlog (filtered by --grep) then each live line once");
}

#[test]
fn groups_persist_and_act_on_their_members() {
    let s = with_shell();
    s.expect(&["session", "new", "second", "--", "sh"], 0);
    s.expect(&["group", "new", "both"], 0);
    s.expect(&["group", "add", "both", "work", "second"], 0);
    let ls = json(&s.expect(&["--json", "group", "ls"], 0));
    let g = ls["groups"].as_array().unwrap().iter().find(|g| g["name"] == "both").unwrap().clone();
    assert_eq!(g["members"], serde_json::json!(["work", "second"]));
    let sent = json(&s.expect(&["--json", "group", "exec", "both", "--", "echo from-group"], 0));
    assert_eq!(sent["panes"].as_array().unwrap().len(), 2);
    for t in ["work", "second"] {
        assert!(
            eventually(Duration::from_secs(5), || s.ctmux(&["pane", "has", t, "^from-group$"]).status.success()),
            "{t}"
        );
    }
    assert_eq!(s.ctmux(&["group", "add", "nope", "work"]).status.code(), Some(4));
    s.expect(&["group", "kill", "both"], 0);
    assert!(s.tmux(&["list-sessions", "-F", "#{session_name}"]).trim().is_empty());
}

/// Keys and value types of a JSON document, values replaced by their type.
fn shape(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            m.iter().map(|(k, v)| (k.clone(), shape(v))).collect::<serde_json::Map<_, _>>().into()
        }
        serde_json::Value::Array(a) => {
            a.first().map(|x| serde_json::json!([shape(x)])).unwrap_or(serde_json::json!([]))
        }
        serde_json::Value::String(_) => "string".into(),
        serde_json::Value::Number(_) => "number".into(),
        serde_json::Value::Bool(_) => "bool".into(),
        serde_json::Value::Null => "null".into(),
    }
}

#[test]
fn json_shapes_of_every_verb_are_stable() {
    let s = with_shell();
    s.expect(&["up"], 0);
    s.expect(&["pane", "meta", "set", "app/api", "role", "api"], 0);
    s.expect(&["group", "new", "g"], 0);
    s.expect(&["group", "add", "g", "work"], 0);
    let runs: Vec<(&str, Vec<&str>, i32)> = vec![
        ("session_ls", vec!["session", "ls"], 0),
        ("session_health", vec!["session", "health", "work"], 0),
        ("pane_ls", vec!["pane", "ls", "--detailed", "--all-sessions"], 0),
        ("pane_status", vec!["pane", "status", "app/api"], 0),
        ("pane_count", vec!["pane", "count", "--all-sessions"], 0),
        ("pane_capture", vec!["pane", "capture", "app/api"], 0),
        ("pane_has", vec!["pane", "has", "app/api", "api-ready"], 0),
        ("pane_find", vec!["pane", "find", "api-ready"], 0),
        ("pane_exec_wait", vec!["pane", "exec", "work", "--wait", "--", "true"], 0),
        (
            "pane_wait_match",
            vec!["pane", "wait", "app/api", "--match", "api-ready", "--since-start", "--timeout", "5s"],
            0,
        ),
        ("pane_meta_get", vec!["pane", "meta", "get", "app/api"], 0),
        ("pane_send_keys", vec!["pane", "send-keys", "work", "Enter"], 0),
        ("group_ls", vec!["group", "ls"], 0),
        ("group_exec", vec!["group", "exec", "g", "--", "true"], 0),
        ("status", vec!["status"], 0),
        ("plan", vec!["plan"], 0),
        ("up", vec!["up"], 0),
        ("events", vec!["events", "--kind", "pane.started", "-n", "1"], 0),
        ("subscribe", vec!["subscribe", "pane.exited", "--target", "app", "--", "true"], 0),
        ("subscribe_list", vec!["subscribe", "--list"], 0),
        ("unsubscribe", vec!["unsubscribe", "1"], 0),
        ("daemon_status", vec!["daemon", "status"], 0),
        ("pane_metrics", vec!["pane", "metrics", "app/api", "--interval", "100ms"], 0),
        ("session_metrics", vec!["session", "metrics", "app", "--interval", "100ms"], 0),
        ("pane_limit", vec!["pane", "limit", "app/api", "--memory", "1GiB"], 0),
        ("error_not_found", vec!["pane", "status", "nope/nope"], 4),
    ];
    assert!(eventually(Duration::from_secs(5), || s.ctmux(&["pane", "has", "app/api", "api-ready"]).status.success()));
    let mut shapes = serde_json::Map::new();
    for (name, args, code) in runs {
        let mut all = vec!["--json"];
        all.extend(args);
        let doc = json(&s.expect(&all, code));
        assert_eq!(doc["schema_version"], 1, "{name}");
        shapes.insert(name.to_string(), shape(&doc));
    }
    insta::assert_json_snapshot!("verb_json_shapes", serde_json::Value::Object(shapes));
}
