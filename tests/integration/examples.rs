//! Every manifest in `examples/` validates, and the runnable ones come up on a real tmux server.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Server, free_port};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_validates() {
    assert!(examples().len() >= 4);
    for file in examples() {
        let out = Command::new(env!("CARGO_BIN_EXE_ctmux")).arg("-f").arg(&file).arg("validate").output().unwrap();
        assert!(out.status.success(), "{}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{} has warnings: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    }
}

/// Brings `example` up on a private server with free ports, checks it, takes it down.
fn bring_up(example: &str, wait: bool) -> Server {
    let s = Server::new("version: 1\nsessions: {}\n");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(example);
    let log = s.path("stack.log");
    let ports: Vec<(&str, String)> = ["DB_PORT", "API_PORT", "WEB_PORT", "PATTERNS_PORT"]
        .into_iter()
        .map(|k| (k, free_port().to_string()))
        .collect();
    let run = |args: &[&str]| {
        let mut c = s.cmd(&["-f", file.to_str().unwrap()]);
        c.args(args).envs(ports.iter().map(|(k, v)| (*k, v))).env("STACK_LOG", &log);
        c.output().unwrap()
    };
    let up: &[&str] = if wait { &["up", "--wait", "--timeout", "60s"] } else { &["up"] };
    let out = run(up);
    assert!(out.status.success(), "{example}: {}", String::from_utf8_lossy(&out.stderr));
    let status = run(&["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    for pane in doc["panes"].as_array().unwrap() {
        assert_ne!(pane["state"], "missing", "{example}: {pane}");
        if wait {
            assert_ne!(pane["health"], "unhealthy", "{example}: {pane}");
        }
    }
    let down = run(&["down"]);
    assert!(down.status.success(), "{example}: {}", String::from_utf8_lossy(&down.stderr));
    assert!(s.panes().is_empty(), "{example}: panes left after down");
    s
}

#[test]
fn quickstart_comes_up_healthy() {
    bring_up("quickstart.yaml", true);
}

#[test]
fn the_stack_comes_up_in_dependency_order() {
    let s = bring_up("stack.yaml", true);
    let log = std::fs::read_to_string(s.path("stack.log")).unwrap();
    let order: Vec<&str> = log.lines().filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert_eq!(order, ["db", "migrate", "api", "worker"], "{log}");
}

#[test]
fn patterns_come_up() {
    bring_up("patterns.yaml", false);
}

#[test]
fn the_compose_example_comes_up_with_its_overlay_include_and_profile() {
    let s = Server::new("version: 1\nsessions: {}\n");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/compose");
    let base = dir.join("ctmux.yaml");
    let ci = dir.join("ctmux.ci.yaml");
    let flags = ["-f", base.to_str().unwrap(), "-f", ci.to_str().unwrap(), "--profile", "debug"];
    let run = |args: &[&str]| {
        let mut c = s.cmd(&flags);
        c.args(args).env_remove("GREETING").env_remove("CTMUX_PROFILES");
        c.output().unwrap()
    };
    let up = run(&["up", "--wait", "--timeout", "60s"]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let mut panes: Vec<String> = s.panes().into_iter().map(|p| p.0).collect();
    panes.sort();
    assert_eq!(
        panes,
        [
            "app/api",
            "app/debugger",
            "app/smoke",
            "app/worker-a",
            "app/worker-b",
            "app/worker-c",
            "tools/clock",
            "tools/notes",
            "tools/where"
        ]
    );
    let capture = |t: &str| String::from_utf8_lossy(&run(&["pane", "capture", t]).stdout).into_owned();
    // extends + the overlay's MODE + the .env's GREETING.
    assert!(capture("app/worker-b").contains("worker-b (ci) says hello from .env"), "{}", capture("app/worker-b"));
    assert!(capture("tools/where").contains("examples/compose/tools"), "{}", capture("tools/where"));
    let down = run(&["down"]);
    assert!(down.status.success(), "{}", String::from_utf8_lossy(&down.stderr));
    assert!(s.panes().is_empty());
}

#[test]
fn the_replicas_example_comes_up_healthy() {
    bring_up("replicas.yaml", true);
}

#[test]
fn the_hooks_example_runs_every_hook_in_order() {
    let s = bring_up("hooks.yaml", true);
    let log = std::fs::read_to_string(s.path("stack.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines,
        [
            "before_up hello from hooks",
            "first_up (nothing was running)",
            "after_up checked",
            "before_down",
            "after_down"
        ],
        "{log}"
    );
}

#[test]
fn the_watch_example_restarts_api_then_client_when_app_py_changes() {
    // A copy, so the test edits no file of the repository.
    let s = Server::new("version: 1\nsessions: {}\n");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::fs::create_dir(s.path("watch")).unwrap();
    std::fs::copy(examples.join("watch.yaml"), s.path("watch.yaml")).unwrap();
    std::fs::copy(examples.join("watch/app.py"), s.path("watch/app.py")).unwrap();
    s.expect(&["-f", "watch.yaml", "up", "--wait", "--timeout", "60s"], 0);
    let restarts = |address: &str| {
        let out = s.expect(&["-f", "watch.yaml", "events", "--json", "--kind", "pane.restarted"], 0);
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        doc["events"].as_array().unwrap().iter().filter(|e| e["address"] == address).count()
    };
    std::fs::write(s.path("watch/app.py"), std::fs::read_to_string(examples.join("watch/app.py")).unwrap() + "\n")
        .unwrap();
    assert!(
        crate::harness::eventually(std::time::Duration::from_secs(30), || restarts("app/client") == 1),
        "client was not restarted after api"
    );
    assert_eq!(restarts("app/api"), 1);
    s.expect(&["-f", "watch.yaml", "down"], 0);
}

#[test]
fn the_ports_example_comes_up_healthy() {
    bring_up("ports.yaml", true);
}

#[test]
fn the_options_example_comes_up_with_its_options_and_indexes() {
    let s = Server::new("version: 1\nsessions: {}\n");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/options.yaml");
    let run = |args: &[&str]| s.cmd(&["-f", file.to_str().unwrap()]).args(args).output().unwrap();
    let up = run(&["up", "--wait", "--timeout", "60s"]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    assert_eq!(s.panes().len(), 9);
    let windows = s.tmux(&["list-windows", "-t", "=dev:", "-F", "#{window_index} #{window_name} #{synchronize-panes}"]);
    assert_eq!(windows, "1 editor 1\n2 servers 0\n9 logs 0\n");
    assert_eq!(s.tmux(&["show-options", "-sv", "default-terminal"]), "tmux-256color\n");
    assert_eq!(s.tmux(&["show-options", "-gv", "status-left"]), "[#S] \n");
    let plan = run(&["plan", "--exit-code"]);
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stdout));
    let down = run(&["down"]);
    assert!(down.status.success(), "{}", String::from_utf8_lossy(&down.stderr));
    assert!(s.panes().is_empty());
}
