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
