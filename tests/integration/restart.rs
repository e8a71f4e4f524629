//! Restarts never take the tmux server down: tmux 3.3a crashes on the first read after a
//! `respawn-pane` when a control client attached to the pane's session is behind on the pane's
//! output (see docs/architecture.md). The daemon's control clients are attached throughout.

use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Server, eventually};

/// Mixed panes, past %9: shells, servers that print a burst as they stop (the output a control
/// client is still behind on when the process dies), a chatty one, one-shots.
const MIXED: &str = r#"
version: 1
name: mixed
sessions:
  api:
    panes:
      shell: {}
      server:
        command: trap 'i=0; while [ $$i -lt 300 ]; do echo "stopping step $$i of a long goodbye"; i=$$((i+1)); done; exit 0' TERM; echo up; while :; do sleep 0.1; done
      chatty:
        command: while :; do echo "tick $$(date +%s%N) $$(printf '%0200d' 0)"; sleep 0.005; done
      once:
        command: echo done-once
        restart: "no"
        job: true
  web:
    panes:
      shell: {}
      server:
        command: trap 'i=0; while [ $$i -lt 300 ]; do echo "web stopping $$i"; i=$$((i+1)); done; exit 0' TERM; echo up; while :; do sleep 0.1; done
      worker:
        command: trap 'seq 1 2000; exit 0' TERM; while :; do echo working; sleep 0.05; done
      once:
        command: printf 'a one-shot\nwith two lines\n'
        restart: "no"
        job: true
      tail:
        command: while :; do sleep 1; done
"#;

fn server_pid(s: &Server) -> String {
    s.tmux(&["display-message", "-p", "#{pid}"]).trim().to_string()
}

#[test]
fn two_hundred_restarts_of_mixed_panes_with_the_daemon_attached_keep_the_tmux_server_alive() {
    let s = Server::new(MIXED);
    s.expect(&["up", "--wait", "--timeout", "30s"], 0);
    let pid = server_pid(&s);
    assert!(!pid.is_empty());
    // The daemon watches both sessions through control clients (a subscription to every
    // session's output makes it attach: its logs come from sinks).
    s.expect(&["subscribe", "pane.output", "--match", "never-(zzz)", "--", "true"], 0);
    assert!(eventually(Duration::from_secs(10), || {
        s.tmux(&["list-clients", "-F", "#{client_control_mode} #{session_name}"])
            .lines()
            .filter(|l| l.starts_with("1 "))
            .count()
            >= 2
    }));
    let targets = [
        "api/shell",
        "api/server",
        "api/chatty",
        "api/once",
        "web/shell",
        "web/server",
        "web/worker",
        "web/once",
        "web/tail",
    ];
    let start = Instant::now();
    for i in 0..200 {
        let target = targets[i % targets.len()];
        let out = s.ctmux(&["restart", target]);
        assert!(
            s.ctmux(&["status", "--json"]).status.code() == Some(0) && server_pid(&s) == pid,
            "the tmux server died at restart {i} ({target}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "restart {i} ({target}): {}", String::from_utf8_lossy(&out.stderr));
    }
    let took = start.elapsed();
    eprintln!("200 restarts in {took:?}");
    assert!(took < Duration::from_secs(110), "200 restarts took {took:?}");
    // Still watched afterwards: the daemon's clients were never detached, and every pane runs.
    let clients = s.tmux(&["list-clients", "-F", "#{client_control_mode} #{session_name}"]);
    assert!(clients.lines().filter(|l| l.starts_with("1 ")).count() >= 2, "{clients}");
    assert!(eventually(Duration::from_secs(10), || {
        let status = s.status();
        let panes = status["panes"].as_array().cloned().unwrap_or_default();
        panes.len() == 9
            && panes
                .iter()
                .all(|p| p["state"] == "running" || p["address"].as_str().is_some_and(|a| a.ends_with("/once")))
    }));
}

const CHATTY: &str = r#"
version: 1
name: lag
sessions:
  s:
    panes:
      chatty:
        command: while :; do printf '%0720d\n' 0; sleep 0.01; done
"#;

#[test]
fn restart_survives_a_control_client_that_is_behind_on_the_pane() {
    // tmux issue #5499's shape: a control client that never reads its stdout falls behind on
    // the pane; a plain `respawn-pane` then crashes tmux 3.3a on the next read, every time.
    let s = Server::new(CHATTY);
    s.expect(&["up", "--no-daemon"], 0);
    let pid = server_pid(&s);
    // In a process group of its own, so the whole pipeline (the client too) goes at the end.
    let mut lagging = Command::new("sh")
        .arg("-c")
        .arg(format!("sleep 30 | tmux -L {} -C attach -t s 2>/dev/null | sleep 30", s.name))
        .env_remove("TMUX")
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("control client");
    assert!(eventually(Duration::from_secs(5), || {
        s.tmux(&["list-clients", "-F", "#{client_control_mode}"]).lines().any(|l| l == "1")
    }));
    // 64 KiB of pipe absorb the first second; after that it only falls further behind.
    std::thread::sleep(Duration::from_secs(3));
    for _ in 0..3 {
        s.expect(&["restart", "s/chatty"], 0);
        // The first read of the new process is what crashed: give it time to happen.
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(server_pid(&s), pid, "the tmux server died after a restart");
    }
    // SAFETY: kill(2) on the process group of the pipeline we spawned.
    unsafe { libc::kill(-(lagging.id() as i32), libc::SIGKILL) };
    let _ = lagging.wait();
}
