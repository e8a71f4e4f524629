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

const NINE: &str = r#"
version: 1
name: nine
sessions:
  app:
    windows:
      main:
        layout: tiled
        panes:
          busy: exec sh -c 'while :; do :; done'
          talk: echo hello-from-talk; exec sleep 600
          p3: exec sleep 603
          p4: exec sleep 604
          p5: exec sleep 605
          p6: exec sleep 606
          p7: exec sleep 607
          p8: exec sleep 608
          gone: exec sleep 609
"#;

#[test]
fn top_all_sessions_shows_cpu_memory_and_last_line_and_top_says_stopped_as_status_does() {
    let s = Server::new(NINE);
    s.expect(&["up", "--no-daemon"], 0);
    s.tmux(&["new-session", "-d", "-s", "loose", "sh", "-c", "echo loose-line; exec sleep 600"]);
    s.expect(&["stop", "app/gone"], 0);
    assert!(crate::harness::eventually(std::time::Duration::from_secs(20), || {
        s.tmux(&["capture-pane", "-p", "-t", "=loose:"]).contains("loose-line")
            && s.tmux(&["capture-pane", "-p", "-t", "=app:=main.1"]).contains("hello-from-talk")
    }));
    let top = json(&s.expect(&["--json", "top", "--all-sessions"], 0));
    let rows = top["panes"].as_array().unwrap();
    assert_eq!(rows.len(), 10, "{top}");
    let row = |address: &str| {
        rows.iter().find(|r| r["address"] == address).unwrap_or_else(|| panic!("{address} missing: {top}")).clone()
    };
    let busy = row("app/busy");
    assert!(busy["cpu_percent"].as_f64().unwrap_or(0.0) > 1.0, "a spinning pane shows no CPU: {busy}");
    for r in rows.iter().filter(|r| r["state"] == "running") {
        assert!(r["memory_bytes"].as_u64().unwrap_or(0) > 0, "no memory: {r}");
    }
    assert_eq!(row("app/talk")["last_line"], "hello-from-talk", "{top}");
    let loose = rows.iter().find(|r| r["address"].as_str().unwrap_or("").starts_with("loose/")).unwrap();
    assert_eq!(loose["last_line"], "loose-line", "{top}");
    // `top` says what `status` says of a stopped pane.
    assert_eq!(row("app/gone")["state"], "stopped", "{top}");
    let status = s.status();
    let gone = status["panes"].as_array().unwrap().iter().find(|p| p["address"] == "app/gone").unwrap().clone();
    assert_eq!(gone["state"], "stopped");
    let table = s.expect(&["top", "--once"], 0);
    let line = table.lines().find(|l| l.starts_with("app/gone")).unwrap_or_else(|| panic!("{table}"));
    assert!(line.contains("stopped"), "{table}");
}

#[test]
fn status_shows_the_dollar_a_command_gets_and_pane_status_measures_cpu_and_memory() {
    let m = NINE.replace(
        "p3: exec sleep 603",
        "p3: { command: [sh, -c, 'echo $${HOME}x; exec sleep 603'] }\n          p3b: echo $$1 $${HOME}; exec sleep 613",
    );
    let s = Server::new(&m);
    s.expect(&["up", "--no-daemon"], 0);
    let status = s.status();
    let command = |address: &str| {
        status["panes"].as_array().unwrap().iter().find(|p| p["address"] == address).unwrap()["command"].clone()
    };
    assert_eq!(command("app/p3"), "sh -c echo ${HOME}x; exec sleep 603", "{status}");
    assert_eq!(command("app/p3b"), "echo $1 ${HOME}; exec sleep 613", "{status}");
    let text = s.expect(&["status"], 0);
    assert!(!text.contains("$$"), "{text}");
    let one = json(&s.expect(&["--json", "pane", "status", "app/busy"], 0));
    assert!(one["pane"]["cpu_percent"].as_f64().unwrap_or(0.0) > 1.0, "{one}");
    assert!(one["pane"]["memory_bytes"].as_u64().unwrap_or(0) > 0, "{one}");
}

#[test]
fn a_health_check_without_a_kind_and_with_a_bad_interval_gets_both_errors_at_once() {
    let m = NINE
        .replace("p4: exec sleep 604", "p4:\n            command: exec sleep 604\n            health: { interval: 5 }");
    let s = Server::new(&m);
    let out = s.ctmux(&["up", "--no-daemon"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs one of exec, http, tcp or log"), "{err}");
    assert!(err.contains("health.interval: invalid duration \"5\""), "{err}");
    assert!(err.contains("ctmux.yaml:15:21]") && err.contains("ctmux.yaml:15:33]"), "no YAML location: {err}");
    assert!(s.panes().is_empty(), "something was applied");
}

#[test]
fn a_pane_waiting_for_a_dependency_is_not_a_change_for_plan_or_up() {
    // `api` waits for `db` healthy; db's check never passes while the file is missing.
    let m = NINE.replace(
        "p8: exec sleep 608",
        "p8: { command: exec sleep 608, health: { exec: 'test -e ready', interval: 1s } }\n          api: { command: exec sleep 610, depends_on: { p8: healthy } }",
    );
    let s = Server::new(&m);
    s.expect(&["up", "--no-daemon"], 0);
    let waiting = |s: &Server| {
        s.status()["panes"].as_array().unwrap().iter().find(|p| p["address"] == "app/api").unwrap()["state"].clone()
    };
    assert_eq!(waiting(&s), "waiting");
    let out = s.ctmux(&["plan", "--exit-code"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "a waiting pane counted as a change:\n{text}");
    assert!(!text.contains("recreate"), "{text}");
    assert!(text.contains("waiting  app/api"), "{text}");
    let plan = json(&s.expect(&["--json", "plan"], 0));
    assert_eq!(plan["waiting"], serde_json::json!(["app/api"]), "{plan}");
    let before = s.panes();
    let up = s.ctmux(&["up", "--no-daemon"]);
    let err = String::from_utf8_lossy(&up.stderr);
    assert_eq!(up.status.code(), Some(0), "{err}");
    assert!(!err.contains("recreate"), "a phantom recreate: {err}");
    assert_eq!(s.panes(), before, "up changed the waiting pane");
    // Once the dependency holds, `up --wait` starts it.
    std::fs::write(s.path("ready"), "").unwrap();
    s.expect(&["up", "--no-daemon", "--wait", "--timeout", "60s"], 0);
    assert_eq!(waiting(&s), "running");
}

#[test]
fn status_and_plan_say_when_the_layout_is_half_built() {
    let s = Server::new(NINE);
    s.expect(&["up", "--no-daemon"], 0);
    assert!(!s.expect(&["status"], 0).contains("half built"));
    assert!(!s.expect(&["plan"], 0).contains("half built"));
    // What an `up` killed part way leaves: some panes of a window, not all.
    for address in ["app/p6", "app/p7", "app/p8"] {
        let id = s.panes().into_iter().find(|p| p.0 == address).unwrap().1;
        s.tmux(&["kill-pane", "-t", &id]);
    }
    let status = s.expect(&["status"], 0);
    assert!(status.contains("the layout is half built: 3 of 9 panes missing"), "{status}");
    let plan = s.expect(&["plan"], 0);
    assert!(plan.contains("the layout is half built: 3 of 9 panes missing"), "{plan}");
    s.expect(&["up", "--no-daemon"], 0);
    assert!(!s.expect(&["status"], 0).contains("half built"));
    assert_eq!(s.panes().len(), 9);
}
