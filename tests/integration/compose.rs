//! A compose user is at home: verbs behave like their compose namesakes and output is quiet on a
//! closed pipe.

use std::process::Stdio;
use std::time::Duration;

use crate::harness::{Server, eventually};

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

const TWO_PANES: &str = "version: 1\nname: pipes\nsessions:\n  app:\n    panes:\n      api: for i in $(seq 1 50); do echo api-line-$$i; done; exec sleep 1000\n      worker: exec sleep 1000\n";

/// Runs `ctmux ARGS` with its stdout a pipe whose reader is already gone (`… | head -0`, the
/// worst case of `| head -1`): every write fails with EPIPE.
fn with_closed_stdout(s: &Server, args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut cmd = s.cmd(args);
    cmd.stdout(writer).stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn ctmux");
    drop(cmd);
    child.wait_with_output().expect("wait")
}

#[test]
fn every_printing_verb_exits_quietly_on_a_closed_pipe() {
    let s = Server::new(TWO_PANES);
    s.expect(&["up"], 0);
    assert!(
        eventually(Duration::from_secs(20), || s.expect(&["logs", "--no-prefix"], 0).contains("api-line-50")),
        "the daemon did not log the api pane"
    );
    for args in [
        &["completions", "bash"][..],
        &["config"],
        &["config", "--json"],
        &["graph"],
        &["status"],
        &["status", "--json"],
        &["logs"],
        &["logs", "--json"],
        &["events"],
        &["events", "--json"],
    ] {
        let out = with_closed_stdout(&s, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "ctmux {args:?} on a closed pipe: {stderr}");
        assert!(stderr.is_empty(), "ctmux {args:?} on a closed pipe printed: {stderr}");
    }
    // A follow mode notices the closed pipe at its next line.
    let mut child =
        s.cmd(&["logs", "-f", "--tail", "1"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut first).unwrap();
    assert!(first.contains("api-line-50"), "{first}");
    s.tmux(&["respawn-pane", "-k", "-t", &pane_id(&s, "app/api"), "sh -c 'while :; do echo more; sleep 0.05; done'"]);
    let done = eventually(Duration::from_secs(20), || child.try_wait().unwrap().is_some());
    assert!(done, "logs -f kept running after its reader left");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn pane_id(s: &Server, address: &str) -> String {
    s.panes().into_iter().find(|p| p.0 == address).map(|p| p.1).expect("pane")
}

const HEALTHY_AND_NOT: &str = "version: 1\nname: verbs\nsessions:\n  app:\n    panes:\n      server:\n        command: exec sleep 1000\n        health: { tcp: 127.0.0.1:1 }\n      worker:\n        command: exec sleep 1000\n        env: { TOKEN: hunter2, KEEP: same }\n";

#[test]
fn down_of_one_pane_says_what_it_stopped_and_status_then_shows_no_health() {
    let s = Server::new(HEALTHY_AND_NOT);
    s.expect(&["up", "--no-daemon", "-q"], 0);
    let out = s.expect(&["down", "worker"], 0);
    assert_eq!(out, "✔ 1 pane stopped: app/worker\n");
    let out = s.expect(&["stop", "app/server"], 0);
    assert_eq!(out, "✔ 1 pane stopped: app/server\n");
    let doc = json(&s.expect(&["status", "--json"], 0));
    let states: Vec<(&str, &str)> = doc["panes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["state"].as_str().unwrap(), p["health"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("stopped", "none"), ("missing", "none")], "{doc}");
    let out = s.expect(&["down"], 0);
    assert_eq!(out, "✔ verbs is down: 1 pane stopped: app/server\n");
    let human = s.expect(&["status"], 0);
    let server = human.lines().find(|l| l.trim_start().starts_with("server")).unwrap();
    assert!(server.contains("missing") && !server.contains("unhealthy"), "{human}");
}

#[test]
fn plan_verbose_names_the_changed_fields_but_never_env_values() {
    let s = Server::new(HEALTHY_AND_NOT);
    s.expect(&["up", "--no-daemon", "-q"], 0);
    s.write(
        &HEALTHY_AND_NOT
            .replace("TOKEN: hunter2", "TOKEN: swordfish, NEW: v")
            .replace("command: exec sleep 1000\n        health", "command: exec sleep 1001\n        health"),
    );
    let out = s.expect(&["plan", "-v"], 0);
    assert!(out.contains("~ recreate app/server (changed: command)\n"), "{out}");
    assert!(out.contains("~ recreate app/worker (changed: env TOKEN, env +NEW)\n"), "{out}");
    let doc = json(&s.expect(&["plan", "--json", "-v"], 0));
    assert_eq!(doc["changed_fields"]["app/worker"], serde_json::json!(["env TOKEN", "env +NEW"]), "{doc}");
    let all = format!("{out}{doc}");
    assert!(!all.contains("swordfish") && !all.contains("hunter2"), "an env value was shown: {all}");
    // Without -v the plan stays one reason per pane.
    let out = s.expect(&["plan"], 0);
    assert!(out.contains("~ recreate app/worker (spec changed)"), "{out}");
}

#[test]
fn status_shows_cpu_and_memory_before_the_daemon_samples() {
    let s = Server::new("version: 1\nname: busy\nsessions:\n  app:\n    panes:\n      spin: while :; do :; done\n");
    // No daemon: nothing will ever sample, so whatever status shows it measured itself.
    s.expect(&["up", "--no-daemon", "-q"], 0);
    let doc = json(&s.expect(&["status", "--json"], 0));
    let pane = &doc["panes"][0];
    assert!(pane["cpu_percent"].as_f64().is_some_and(|c| c > 0.0), "{doc}");
    assert!(pane["memory_bytes"].as_u64().is_some_and(|m| m > 0), "{doc}");
    let human = s.expect(&["status"], 0);
    let line = human.lines().find(|l| l.contains("spin")).unwrap();
    assert!(line.contains('%') && line.contains("iB"), "{human}");
}

#[test]
fn events_follow_prints_new_events_only_unless_since_is_given() {
    let s = Server::new(TWO_PANES);
    s.expect(&["up", "-q"], 0);
    assert!(eventually(Duration::from_secs(20), || {
        json(&s.expect(&["events", "--json"], 0))["events"].as_array().is_some_and(|e| !e.is_empty())
    }));
    let before = json(&s.expect(&["events", "--json"], 0));
    let last = before["events"].as_array().unwrap().iter().filter_map(|e| e["id"].as_i64()).max().unwrap();

    let mut child = s.cmd(&["events", "-f", "--json"]).stdout(Stdio::piped()).spawn().unwrap();
    let lines = crate::harness::lines_of(&mut child);
    let mut first = None;
    for _ in 0..20 {
        s.expect(&["restart", "app/worker"], 0);
        if let Ok(line) = lines.recv_timeout(Duration::from_secs(2)) {
            first = Some(line);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let first = json(&first.expect("events -f printed nothing after a restart"));
    assert!(first["id"].as_i64().unwrap() > last, "events -f replayed history: {first} (last before: {last})");

    let mut child = s.cmd(&["events", "-f", "--json", "--since", "1h"]).stdout(Stdio::piped()).spawn().unwrap();
    let lines = crate::harness::lines_of(&mut child);
    let first = lines.recv_timeout(Duration::from_secs(20));
    let _ = child.kill();
    let _ = child.wait();
    let first = json(&first.expect("events -f --since printed no history"));
    assert!(first["id"].as_i64().unwrap() <= last, "{first}");
}
