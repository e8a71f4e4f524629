//! Small things users hit (issue 20, item 13): each on a real tmux server.

use crate::harness::Server;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn pane_new_on_a_full_window_opens_a_new_window_and_names_show_as_addresses() {
    let s = Server::new("version: 1\nsessions: { x: exec sleep 100 }\n");
    // 240x60, one pane per row: the window holds 30.
    s.expect(&["session", "new", "grid", "--layout", "even-vertical"], 0);
    let mut ids = Vec::new();
    for i in 1..=40 {
        let name = format!("w{i}");
        let out = s.ctmux(&["--json", "pane", "new", "grid", "--name", &name, "--", "sleep", "600"]);
        assert_eq!(out.status.code(), Some(0), "pane {i}: {}", String::from_utf8_lossy(&out.stdout));
        let v = json(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(v["pane"]["address"], format!("grid/{name}"), "{v}");
        assert_eq!(v["pane"]["pane"], name, "{v}");
        ids.push(v["pane"]["tmux_id"].as_str().unwrap().to_string());
    }
    let windows = s.tmux(&["list-windows", "-t", "=grid", "-F", "#{window_panes}"]);
    assert!(windows.lines().count() > 1, "every pane in one window: {windows}");
    assert_eq!(s.tmux(&["list-panes", "-s", "-t", "=grid", "-F", "#{pane_id}"]).lines().count(), 41);
    // Every window keeps dead panes, like the first.
    for w in s.tmux(&["list-windows", "-t", "=grid", "-F", "#{window_id}"]).lines() {
        assert_eq!(s.tmux(&["show-options", "-wv", "-t", w, "remain-on-exit"]).trim(), "on", "window {w}");
    }
    let ls = json(&s.expect(&["--json", "pane", "ls", "grid"], 0));
    let addresses: Vec<&str> = ls["panes"].as_array().unwrap().iter().filter_map(|p| p["address"].as_str()).collect();
    for i in 1..=40 {
        assert!(addresses.contains(&format!("grid/w{i}").as_str()), "grid/w{i} missing from pane ls: {ls}");
    }
    let text = s.expect(&["pane", "ls", "grid"], 0);
    assert!(text.contains("grid/w40"), "{text}");
    let one = json(&s.expect(&["--json", "pane", "status", "grid/w17"], 0));
    assert_eq!(one["pane"]["address"], "grid/w17");
    assert_eq!(one["pane"]["tmux_id"], ids[16].as_str());
}
