//! `ctmux top`: one table without a terminal, and the full-screen view driven by keys in a real
//! tmux pane (send-keys in, capture-pane out).

use std::time::Duration;

use crate::harness::{Server, eventually};

const MANIFEST: &str = r#"version: 1
name: topp
sessions:
  app:
    panes:
      web: sh -c 'echo hello-from-web; sleep 600'
      worker: sh -c 'echo worker-ready; sleep 600'
"#;

#[test]
fn top_without_a_terminal_prints_one_table_and_json() {
    let s = Server::new(MANIFEST);
    s.expect(&["up", "--wait", "--timeout", "30s"], 0);
    let table = s.expect(&["top"], 0);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ADDRESS") && lines[0].contains("LAST LINE"), "{table}");
    assert!(lines.iter().any(|l| l.starts_with("app/web") && l.contains("running")), "{table}");
    let doc: serde_json::Value = serde_json::from_str(&s.expect(&["top", "--json"], 0)).unwrap();
    let panes = doc["panes"].as_array().unwrap();
    assert_eq!(panes.len(), 2, "{doc}");
    assert_eq!(doc["schema_version"], 1);
    // --all-sessions: every pane of the server, a pane ctmux did not create too.
    s.tmux(&["new-session", "-d", "-s", "mine", "sleep 600"]);
    let all: serde_json::Value = serde_json::from_str(&s.expect(&["top", "--all-sessions", "--json"], 0)).unwrap();
    let addresses: Vec<&str> =
        all["panes"].as_array().unwrap().iter().map(|p| p["address"].as_str().unwrap()).collect();
    assert_eq!(addresses.len(), 3, "{all}");
    assert!(addresses.iter().any(|a| a.starts_with("mine/%")), "{all}");
}

#[test]
fn top_in_a_real_terminal_sorts_filters_stops_a_pane_and_quits() {
    let s = Server::new(MANIFEST);
    s.expect(&["up", "--wait", "--timeout", "30s"], 0);
    // The view runs in a pane of another server, as a person would run it in a terminal.
    let viewer = Server::new("version: 1\nsessions:\n  v: sleep 1\n");
    let command = format!(
        "env -u TMUX CTMUX_STATE_DIR={state} XDG_RUNTIME_DIR={state} CTMUX_TMUX_CONF=/dev/null NO_COLOR=1 {exe} -L {name} --file {file} top",
        state = s.state.path().display(),
        exe = env!("CARGO_BIN_EXE_ctmux"),
        name = s.name,
        file = s.path("ctmux.yaml").display(),
    );
    viewer.tmux(&["new-session", "-d", "-s", "top", "-x", "160", "-y", "20", &command]);
    viewer.tmux(&["set-option", "-t", "top", "remain-on-exit", "on"]);
    let screen = || viewer.tmux(&["capture-pane", "-p", "-t", "top"]);
    let shows =
        |what: &[&str], secs: u64| eventually(Duration::from_secs(secs), || what.iter().all(|w| screen().contains(w)));
    assert!(shows(&["ADDRESS", "app/web", "app/worker", "running", "hello-from-web"], 30), "{}", screen());
    viewer.tmux(&["send-keys", "-t", "top", "s"]);
    assert!(shows(&["sort: cpu"], 10), "{}", screen());
    viewer.tmux(&["send-keys", "-t", "top", "/", "w", "e", "b", "Enter"]);
    assert!(shows(&["filter: web"], 10), "{}", screen());
    assert!(eventually(Duration::from_secs(10), || !screen().contains("app/worker")), "{}", screen());
    // Stop the selected pane (app/web): the row follows the daemon's event.
    viewer.tmux(&["send-keys", "-t", "top", "x"]);
    assert!(shows(&["stopped", "stop app/web: done"], 30), "{}", screen());
    let web = s.status()["panes"].as_array().unwrap().iter().find(|p| p["address"] == "app/web").cloned().unwrap();
    assert_eq!(web["state"], "stopped", "{web}");
    viewer.tmux(&["send-keys", "-t", "top", "q"]);
    assert!(
        eventually(Duration::from_secs(10), || viewer.tmux(&["list-panes", "-t", "top", "-F", "#{pane_dead}"]).trim()
            == "1"),
        "top did not quit: {}",
        screen()
    );
}
