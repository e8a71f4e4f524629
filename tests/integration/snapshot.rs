//! `snapshot` and `restore`: live tmux → manifest → tmux again, on real private servers.

use std::time::{Duration, Instant};

use crate::harness::{Server, eventually};

/// The manifest part of a snapshot (the header says when it was taken, so it differs).
fn body(text: &str) -> String {
    text.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n")
}

/// Windows as tmux sees them: session, index, name, layout string (its pane ids, which differ
/// from server to server and which `select-layout` ignores, renumbered), active flag.
fn windows(s: &Server) -> Vec<String> {
    let mut w: Vec<String> = s
        .tmux(&[
            "list-windows",
            "-a",
            "-F",
            "#{session_name}|#{window_index}|#{window_name}|#{window_active}|#{window_layout}",
        ])
        .lines()
        .map(|l| {
            let (head, layout) = l.rsplit_once('|').unwrap_or((l, ""));
            format!("{head}|{}", ctmux::snapshot::layout::canonical(layout))
        })
        .collect();
    w.sort();
    w
}

/// Active pane of each window, by pane index.
fn active_panes(s: &Server) -> Vec<String> {
    let mut p: Vec<String> = s
        .tmux(&["list-panes", "-a", "-F", "#{session_name}|#{window_index}|#{pane_index}|#{pane_active}"])
        .lines()
        .map(String::from)
        .collect();
    p.sort();
    p
}

fn snapshot_to(s: &Server, file: &std::path::Path, args: &[&str]) -> String {
    let f = file.to_str().unwrap();
    let mut all = vec!["snapshot", "-o", f];
    all.extend_from_slice(args);
    s.expect(&all, 0);
    std::fs::read_to_string(file).unwrap()
}

const STACK: &str = r#"
version: 1
name: shop
env: { API_TOKEN: "${SNAP_SECRET}", MODE: "x$$y" }
sessions:
  db:
    panes:
      pg:
        command: echo 'ready to accept connections'; exec sleep 1000
        ready_when: ready to accept connections
        restart: on-failure
        metadata: { role: primary }
  work:
    windows:
      grid:
        layout: tiled
        panes:
          p1: exec sleep 1001
          p2: exec sleep 1002
          p3: exec sleep 1003
          p4: exec sleep 1004
          p5: exec sleep 1005
          p6: exec sleep 1006
          p7: exec sleep 1007
          p8: { command: [sleep, "1008"], depends_on: { db/pg: healthy } }
          p9:
            command: exec sleep 1009
            health: { exec: "true", interval: 5s }
            on: [{ match: 'panic', do: restart, cooldown: 10s }]
      edit:
        panes:
          sh:
"#;

#[test]
fn a_managed_stack_round_trips_through_snapshot_down_and_up() {
    let s = Server::new(STACK);
    let up = |args: &[&str]| {
        let out = s.cmd(args).env("SNAP_SECRET", "hunter2").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    up(&["up", "--no-daemon", "--wait", "--timeout", "60s"]);
    let first = snapshot_to(&s, &s.path("snap.yaml"), &[]);
    assert!(!first.contains("hunter2"), "a secret value was written:\n{first}");
    assert!(first.contains("${SNAP_SECRET}"), "the variable reference was lost:\n{first}");
    assert!(first.contains("x$$y"), "a literal $ lost its escape:\n{first}");
    for key in [
        "ready_when:",
        "restart: on-failure",
        "role: primary",
        "depends_on:",
        "db/pg: healthy",
        "health:",
        "cooldown: 10s",
    ] {
        assert!(first.contains(key), "`{key}` missing from the snapshot:\n{first}");
    }
    s.expect(&["validate", "-f", "snap.yaml"], 0);
    // The same in TOML, by the file's extension.
    let toml = snapshot_to(&s, &s.path("snap.toml"), &[]);
    assert!(toml.contains("[sessions.work.windows.grid.panes.p9.health]"), "{toml}");
    s.expect(&["validate", "-f", "snap.toml"], 0);
    let before = windows(&s);
    s.expect(&["down"], 0);
    up(&["up", "-f", "snap.yaml", "--no-daemon", "--wait", "--timeout", "60s"]);
    assert_eq!(windows(&s), before, "windows or layouts differ after the round trip");
    let second = snapshot_to(&s, &s.path("snap2.yaml"), &["-f", "snap.yaml"]);
    assert_eq!(body(&second), body(&first), "the second snapshot differs");
}

#[test]
fn unmanaged_sessions_come_back_with_names_layouts_argv_focus_titles_and_options() {
    let live = Server::new("version: 1\nsessions: { x: echo }\n");
    std::fs::write(live.path("app.log"), "hello\n").unwrap();
    let log = live.path("app.log");
    let log = log.to_str().unwrap();
    let weird = "my app ü \"q\" 'r' #1";
    live.tmux(&["new-session", "-d", "-s", weird, "-n", "main window", "-x", "200", "-y", "50", "-c", "/tmp"]);
    live.tmux(&["split-window", "-h", "-t", &format!("={weird}:"), "-c", "/", "tail", "-n", "1", "-f", log]);
    live.tmux(&[
        "split-window",
        "-v",
        "-t",
        &format!("={weird}:"),
        "python3",
        "-c",
        "import time; time.sleep(1000)",
        "two words",
        "",
        "last",
    ]);
    live.tmux(&["resize-pane", "-t", &format!("={weird}:.0"), "-x", "70"]);
    live.tmux(&["new-window", "-t", &format!("={weird}:"), "-n", "zoomed ⚡"]);
    // /bin/sh: an interactive shell with job control that starts at once (bash here runs rc files).
    live.tmux(&["split-window", "-t", &format!("={weird}:1"), "/bin/sh"]);
    live.tmux(&["send-keys", "-t", &format!("={weird}:1.1"), "sleep 4242", "Enter"]);
    live.tmux(&["resize-pane", "-Z", "-t", &format!("={weird}:1.0")]);
    live.tmux(&["new-session", "-d", "-s", "other", "-x", "120", "-y", "40"]);
    live.tmux(&["select-pane", "-t", &format!("={weird}:0.1"), "-T", "logs #1 ü"]);
    live.tmux(&["set-option", "-p", "-t", &format!("={weird}:0.2"), "@role", "worker \"two\" $HOME"]);
    live.tmux(&["select-window", "-t", &format!("={weird}:0")]);
    live.tmux(&["select-pane", "-t", &format!("={weird}:0.1")]);
    // The foreground program of the shell in window 1 is `sleep 4242` once the shell ran it, and
    // python3 may start through a wrapper script (pyenv) that execs it.
    assert!(eventually(Duration::from_secs(20), || {
        let now = live.tmux(&["list-panes", "-a", "-F", "#{pane_current_command}"]);
        now.contains("sleep") && now.contains("python") && now.contains("tail")
    }));
    let text = snapshot_to(&live, &live.path("snap.yaml"), &["--all-sessions"]);
    for want in [
        "title: \"logs #1 ü\"",
        "\"@role\": worker \"two\" $$HOME",
        "- tail\n",
        "- -f\n",
        "- import time; time.sleep(1000)",
        "- two words",
        "- sleep\n",
        "keep_shell: true",
        "size: 200x50",
        "size: 120x40",
        "zoomed windows are written unzoomed",
    ] {
        assert!(text.contains(want), "`{want}` missing:\n{text}");
    }
    // An empty argument is an argument (`python3 -c … 'two words' '' last`).
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let at = lines.iter().position(|l| *l == "- two words").expect("two words");
    assert_eq!(lines[at + 1..at + 3], ["- \"\"", "- last"], "{text}");
    live.expect(&["validate", "-f", "snap.yaml"], 0);

    let fresh = Server::new("version: 1\nsessions: { x: echo }\n");
    let file = live.path("snap.yaml");
    fresh.expect(&["up", "-f", file.to_str().unwrap(), "--no-daemon"], 0);
    let unzoomed: Vec<String> = windows(&live);
    assert_eq!(windows(&fresh), unzoomed, "names, order, layouts or the active window differ");
    assert_eq!(active_panes(&fresh), active_panes(&live), "active panes differ");
    let again = snapshot_to(&fresh, &fresh.path("again.yaml"), &["--all-sessions"]);
    assert_eq!(body(&again), body(&text), "the restored server snapshots differently");
    assert_eq!(fresh.tmux(&["display", "-p", "-t", &format!("={weird}:0.1"), "#{pane_title}"]).trim(), "logs #1 ü");
    assert_eq!(
        fresh.tmux(&["show-options", "-pqv", "-t", &format!("={weird}:0.2"), "@role"]).trim(),
        "worker \"two\" $HOME"
    );
    let argv = fresh.tmux(&["list-panes", "-a", "-F", "#{pane_current_command}"]);
    assert!(argv.contains("tail") && argv.contains("python"), "{argv}");
}

#[test]
fn a_hundred_panes_in_ten_sessions_round_trip_quickly() {
    let live = Server::new("version: 1\nsessions: { x: echo }\n");
    let mut args: Vec<String> = Vec::new();
    for s in 0..10 {
        let name = format!("s{s}");
        args.extend(["new-session", "-d", "-s", &name, "-x", "240", "-y", "60"].map(String::from));
        for p in 1..10 {
            args.push(";".into());
            args.extend(
                ["split-window", "-t", &format!("={name}:"), "sleep", &format!("{}", 2000 + s * 10 + p)]
                    .map(String::from),
            );
            args.push(";".into());
            args.extend(["select-layout", "-t", &format!("={name}:"), "tiled"].map(String::from));
        }
        args.push(";".into());
    }
    args.pop();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    live.tmux(&refs);
    assert_eq!(live.tmux(&["list-panes", "-a"]).lines().count(), 100);
    let started = Instant::now();
    let text = snapshot_to(&live, &live.path("snap.yaml"), &["--all-sessions"]);
    let took_snapshot = started.elapsed();
    let fresh = Server::new("version: 1\nsessions: { x: echo }\n");
    let file = live.path("snap.yaml");
    let started = Instant::now();
    fresh.expect(&["up", "-f", file.to_str().unwrap(), "--no-daemon"], 0);
    let took_up = started.elapsed();
    assert_eq!(fresh.tmux(&["list-panes", "-a"]).lines().count(), 100);
    assert_eq!(windows(&fresh), windows(&live));
    let again = snapshot_to(&fresh, &fresh.path("again.yaml"), &["--all-sessions"]);
    assert_eq!(body(&again), body(&text));
    eprintln!("100 panes: snapshot {took_snapshot:?}, restore {took_up:?}");
}

#[test]
fn snapshot_of_a_missing_session_is_not_found() {
    let s = Server::new("version: 1\nsessions: { x: exec sleep 100 }\n");
    s.expect(&["up", "--no-daemon"], 0);
    let out = s.ctmux(&["--json", "snapshot", "nosuch"]);
    assert_eq!(out.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "not_found", "{v}");
}

#[test]
fn restore_leaves_existing_sessions_alone_unless_replace_and_plan_changes_nothing() {
    let live = Server::new("version: 1\nsessions: { x: echo }\n");
    live.tmux(&["new-session", "-d", "-s", "a", "-x", "160", "-y", "40", "sleep", "1111"]);
    live.tmux(&["split-window", "-h", "-t", "=a:", "sleep", "2222"]);
    live.tmux(&["new-session", "-d", "-s", "b b", "-x", "100", "-y", "30", "sleep", "3333"]);
    let file = live.path("snap.yaml");
    let file = file.to_str().unwrap();
    live.expect(&["snapshot", "--all-sessions", "-o", file], 0);

    let other = Server::new("version: 1\nsessions: { x: echo }\n");
    other.tmux(&["new-session", "-d", "-s", "a", "sleep", "7777"]);
    let mine = other.tmux(&["list-panes", "-a", "-F", "#{pane_id} #{pane_pid}"]);
    let plan: serde_json::Value =
        serde_json::from_str(&other.expect(&["--json", "restore", file, "--plan"], 0)).expect("plan json");
    assert_eq!(plan["create"][0]["session"], "b b", "{plan}");
    assert_eq!(plan["create"][0]["panes"], 1, "{plan}");
    assert_eq!(plan["skip"], serde_json::json!(["a"]), "{plan}");
    assert_eq!(other.tmux(&["list-panes", "-a", "-F", "#{pane_id} #{pane_pid}"]), mine, "--plan changed tmux");

    other.expect(&["restore", file, "--no-daemon"], 0);
    let sessions = other.tmux(&["list-sessions", "-F", "#{session_name}"]);
    assert_eq!(sessions, "a\nb b\n");
    assert!(
        other.tmux(&["list-panes", "-a", "-F", "#{pane_id} #{pane_pid}"]).starts_with(mine.trim()),
        "session a was touched"
    );
    assert_eq!(other.tmux(&["list-panes", "-t", "=a:", "-F", "#{pane_current_command}"]).trim(), "sleep");

    other.expect(&["restore", file, "--replace", "--no-daemon"], 0);
    assert_eq!(windows(&other), windows(&live), "--replace did not bring the snapshot's sessions back");
    assert!(!other.tmux(&["list-panes", "-a", "-F", "#{pane_id} #{pane_pid}"]).contains(mine.trim()));
}

#[test]
fn saved_snapshots_are_listed_shown_removed_and_restored_latest() {
    let live = Server::new("version: 1\nname: keep\nsessions:\n  app:\n    panes:\n      a: exec sleep 1000\n");
    live.expect(&["up", "--no-daemon"], 0);
    let first: serde_json::Value = serde_json::from_str(&live.expect(&["--json", "snapshot", "--save"], 0)).unwrap();
    let id = first["id"].as_str().expect("an id").to_string();
    live.tmux(&["split-window", "-t", "=app:", "sleep", "5555"]);
    // A snapshot records what runs at that instant: let the new pane's fork exec `sleep` first.
    assert!(eventually(Duration::from_secs(20), || live
        .tmux(&["list-panes", "-t", "=app:", "-F", "#{pane_current_command}"])
        .lines()
        .all(|c| c == "sleep")));
    let second: serde_json::Value = serde_json::from_str(&live.expect(&["--json", "snapshot", "--save"], 0)).unwrap();
    let newest = second["id"].as_str().unwrap().to_string();
    assert_ne!(id, newest);
    let ls: serde_json::Value = serde_json::from_str(&live.expect(&["--json", "snapshot", "ls"], 0)).unwrap();
    let ids: Vec<&str> = ls["snapshots"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id.as_str(), newest.as_str()]);
    assert_eq!(ls["snapshots"][1]["panes"], 2);
    let path = std::path::PathBuf::from(ls["snapshots"][1]["path"].as_str().unwrap());
    assert!(path.starts_with(live.state.path().join("snapshots/keep")), "{path:?}");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(live.expect(&["snapshot", "show", &newest], 0).contains("- \"5555\""));

    live.expect(&["down"], 0);
    live.tmux(&["kill-session", "-t", "=app"]);
    live.tmux(&["new-session", "-d", "-s", "placeholder"]);
    live.expect(&["restore", "--latest", "--no-daemon"], 0);
    assert_eq!(live.tmux(&["list-panes", "-t", "=app:", "-F", "#{pane_index}"]).lines().count(), 2);

    live.expect(&["snapshot", "rm", &id], 0);
    let out = live.ctmux(&["--json", "snapshot", "show", &id]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(live.expect(&["--json", "snapshot", "ls"], 0).matches("\"id\"").count(), 1);
}

/// `snapshot.saved` events recorded so far (of the project of `ctmux.yaml`).
fn saved_events(s: &Server) -> Vec<serde_json::Value> {
    saved_events_of(s, "ctmux.yaml")
}

/// `snapshot.saved` events of the project of `manifest`.
fn saved_events_of(s: &Server, manifest: &str) -> Vec<serde_json::Value> {
    let out = s.ctmux(&["--json", "-f", manifest, "events", "--kind", "snapshot.saved"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn the_daemon_autosaves_after_changes_keeps_the_newest_and_never_saves_an_empty_stack() {
    let s = Server::new(
        "version: 1\nname: auto\nsnapshots: { interval: 1h, keep: 2 }\nsessions:\n  app:\n    panes:\n      a: exec sleep 1000\n",
    );
    s.expect(&["up"], 0);
    assert!(eventually(Duration::from_secs(30), || !saved_events(&s).is_empty()), "no snapshot after up");
    let first = saved_events(&s);
    assert_eq!(first[0]["data"]["reason"], "load", "{first:?}");
    assert_eq!(first[0]["data"]["panes"], 1);
    // Structural changes: each is saved (debounced), and only the newest two are kept.
    for n in 2..=4 {
        s.tmux(&["split-window", "-t", "=app:", "sleep", "999"]);
        assert!(
            eventually(Duration::from_secs(30), || saved_events(&s).iter().any(|e| e["data"]["panes"] == n)),
            "no snapshot with {n} panes: {:?}",
            saved_events(&s)
        );
    }
    let ls: serde_json::Value = serde_json::from_str(&s.expect(&["--json", "snapshot", "ls"], 0)).unwrap();
    let kept = ls["snapshots"].as_array().unwrap();
    assert_eq!(kept.len(), 2, "{ls}");
    assert_eq!(kept[1]["panes"], 4, "{ls}");
    // A second autosaved project on the same daemon: its saves come after any save of `auto`
    // queued before them (one debounce for all), so they tell when `auto` had its chance.
    std::fs::write(
        s.path("other.yaml"),
        "version: 1\nname: other\nsnapshots: { interval: 1h, keep: 5 }\nsessions:\n  o:\n    panes:\n      x: exec sleep 1000\n",
    )
    .unwrap();
    s.expect(&["up", "-f", "other.yaml"], 0);
    let of_other = |s: &Server| saved_events_of(s, "other.yaml").len();
    assert!(eventually(Duration::from_secs(30), || of_other(&s) == 1));
    let before = saved_events(&s).len();
    s.expect(&["down"], 0);
    s.tmux(&["kill-session", "-t", "=app"]);
    s.tmux(&["split-window", "-t", "=o:", "sleep", "998"]);
    assert!(eventually(Duration::from_secs(30), || of_other(&s) == 2), "{:?}", saved_events_of(&s, "other.yaml"));
    // A change with the project gone is no reason to write an empty snapshot.
    let after = saved_events(&s).len();
    assert_eq!(after, before, "{:?}", saved_events(&s));
    let latest = s.expect(&["snapshot", "show", kept[1]["id"].as_str().unwrap()], 0);
    assert!(latest.contains("app:") && latest.contains("- '999'") || latest.contains("- \"999\""), "{latest}");
}

#[test]
fn pane_options_other_than_user_options_are_refused() {
    let s = Server::new(
        "version: 1\nsessions:\n  a:\n    panes:\n      p: { command: exec sleep 100, options: { remain-on-exit: \"off\", \"@ctmux-id\": x } }\n",
    );
    let out = s.ctmux(&["--json", "validate"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["errors"].as_array().map(Vec::len), Some(2), "{v}");
}

#[test]
fn concurrent_saves_each_keep_their_own_file() {
    let s = Server::new("version: 1\nname: many\nsessions:\n  app:\n    panes:\n      a: exec sleep 1000\n");
    s.expect(&["up", "--no-daemon"], 0);
    let children: Vec<_> = (0..8)
        .map(|_| s.cmd(&["--json", "snapshot", "--save"]).stdout(std::process::Stdio::piped()).spawn().unwrap())
        .collect();
    let mut ids: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert_eq!(out.status.code(), Some(0));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8, "two saves shared an id: {ids:?}");
    let ls: serde_json::Value = serde_json::from_str(&s.expect(&["--json", "snapshot", "ls"], 0)).unwrap();
    assert_eq!(ls["snapshots"].as_array().unwrap().len(), 8);
    let leftovers = std::fs::read_dir(s.state.path().join("snapshots/many"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(leftovers, 0, "temporary files were left behind");
}

#[test]
fn a_snapshot_reads_only_its_own_server_when_two_run_the_same_project() {
    let manifest = "version: 1\nname: twin\nsessions:\n  app:\n    panes:\n      a: exec sleep 1000\n";
    let one = Server::new(manifest);
    let two = Server::new(manifest);
    one.expect(&["up", "--no-daemon"], 0);
    two.expect(&["up", "--no-daemon"], 0);
    two.tmux(&["split-window", "-t", "=app:", "sleep", "31337"]);
    let first = one.expect(&["snapshot"], 0);
    let second = two.expect(&["snapshot"], 0);
    assert!(!first.contains("31337") && second.contains("31337"), "{first}\n---\n{second}");
    assert!(first.contains(&one.name) && !first.contains(&two.name), "{first}");
}

#[test]
fn autosave_resumes_after_the_daemon_is_killed_with_sigkill() {
    let s = Server::new(
        "version: 1\nname: phoenix\nsnapshots: { interval: 1h, keep: 5 }\nsessions:\n  app:\n    panes:\n      a: exec sleep 1000\n",
    );
    s.expect(&["up"], 0);
    assert!(eventually(Duration::from_secs(30), || saved_events(&s).len() == 1), "{:?}", saved_events(&s));
    let status: serde_json::Value = serde_json::from_str(&s.expect(&["--json", "daemon", "status"], 0)).unwrap();
    let pid = status["status"]["pid"].as_i64().unwrap();
    let supervisor = status["status"]["supervisor"].as_i64().unwrap();
    // SAFETY: kill(2) on the daemon and supervisor this test started (the supervisor first, so
    // nothing brings the daemon back until a command).
    unsafe { libc::kill(supervisor as i32, libc::SIGKILL) };
    // SAFETY: as above.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    // `status` finds managed panes and no daemon: it starts one, which adopts the project.
    let doc: serde_json::Value = serde_json::from_str(&s.expect(&["--json", "status"], 0)).unwrap();
    assert_eq!(doc["daemon"], "restarted", "{doc}");
    s.tmux(&["split-window", "-t", "=app:", "sleep", "999"]);
    assert!(
        eventually(Duration::from_secs(30), || saved_events(&s).iter().any(|e| e["data"]["panes"] == 2)),
        "no autosave after the daemon was restarted: {:?}",
        saved_events(&s)
    );
}

#[test]
fn restore_refuses_to_build_a_dependency_into_a_session_it_leaves_alone() {
    let s = Server::new("version: 1\nsessions: { x: echo }\n");
    std::fs::write(
        s.path("snap.yaml"),
        "version: 1\nname: deps\nsessions:\n  db:\n    panes:\n      pg: exec sleep 1000\n  api:\n    panes:\n      web: { command: exec sleep 1001, depends_on: [db/pg] }\n",
    )
    .unwrap();
    s.tmux(&["new-session", "-d", "-s", "db", "sleep", "4444"]);
    let before = s.tmux(&["list-panes", "-a", "-F", "#{pane_id}"]);
    let out = s.ctmux(&["--json", "restore", "snap.yaml", "--no-daemon"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(s.tmux(&["list-panes", "-a", "-F", "#{pane_id}"]), before, "tmux was changed");
    // With --replace the user's `db` goes and the snapshot's comes back, with `api`.
    s.expect(&["restore", "snap.yaml", "--replace", "--no-daemon"], 0);
    let ids: Vec<String> = s.panes().into_iter().map(|p| p.0).collect();
    assert!(ids.contains(&"db/pg".to_string()) && ids.contains(&"api/web".to_string()), "{ids:?}");
}

/// A small deterministic generator (no crate needed for a few random choices).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[test]
fn random_split_layouts_come_back_exactly() {
    for seed in 1..=8u64 {
        let mut rng = Lcg(seed);
        let live = Server::new("version: 1\nsessions: { x: echo }\n");
        let (w, h) = (120 + rng.below(100), 30 + rng.below(30));
        for sidx in 0..2 {
            let name = format!("r{sidx}");
            live.tmux(&[
                "new-session",
                "-d",
                "-s",
                &name,
                "-n",
                "w0",
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
                "sleep",
                "1000",
            ]);
            for widx in 0..=rng.below(2) {
                if widx > 0 {
                    live.tmux(&["new-window", "-t", &format!("={name}:"), "-n", &format!("w{widx}"), "sleep", "1000"]);
                }
                for _ in 0..rng.below(6) {
                    let panes = live.tmux(&["list-panes", "-t", &format!("={name}:"), "-F", "#{pane_id}"]);
                    let ids: Vec<&str> = panes.lines().collect();
                    let target = ids[rng.below(ids.len() as u64) as usize];
                    let dir = if rng.below(2) == 0 { "-h" } else { "-v" };
                    live.tmux(&["split-window", dir, "-t", target, "sleep", "1000"]);
                    let grow = (1 + rng.below(5)).to_string();
                    let way = ["-L", "-R", "-U", "-D"][rng.below(4) as usize];
                    live.tmux(&["resize-pane", "-t", target, way, &grow]);
                }
            }
        }
        let file = live.path("snap.yaml");
        let text = snapshot_to(&live, &file, &["--all-sessions"]);
        let fresh = Server::new("version: 1\nsessions: { x: echo }\n");
        fresh.expect(&["restore", file.to_str().unwrap(), "--no-daemon"], 0);
        assert_eq!(windows(&fresh), windows(&live), "seed {seed}:\n{text}");
        assert_eq!(active_panes(&fresh), active_panes(&live), "seed {seed}");
        let again = snapshot_to(&fresh, &fresh.path("again.yaml"), &["--all-sessions"]);
        assert_eq!(body(&again), body(&text), "seed {seed}: the restored server snapshots differently");
    }
}

/// Ten panes of project `shop`, for tests that put other sessions beside a project.
const TEN: &str = r#"
version: 1
name: shop
sessions:
  work:
    windows:
      grid:
        layout: tiled
        panes:
          p1: exec sleep 2001
          p2: exec sleep 2002
          p3: exec sleep 2003
          p4: exec sleep 2004
          p5: exec sleep 2005
  more:
    panes:
      q1: exec sleep 2011
      q2: exec sleep 2012
      q3: exec sleep 2013
      q4: exec sleep 2014
      q5: exec sleep 2015
"#;

#[test]
fn a_snapshot_of_unmanaged_sessions_taken_in_a_project_directory_has_a_name_of_its_own() {
    let s = Server::new(TEN);
    s.expect(&["up", "--no-daemon"], 0);
    let before = s.panes();
    assert_eq!(before.len(), 10, "{before:?}");
    s.tmux(&["new-session", "-d", "-s", "scratch", "-x", "120", "-y", "40", "sleep", "3001"]);
    s.tmux(&["split-window", "-t", "=scratch:", "sleep", "3002"]);
    let file = s.path("scratch.yaml");
    let text = snapshot_to(&s, &file, &["scratch"]);
    assert!(!text.contains("name: shop"), "the snapshot took the project's name:\n{text}");
    assert!(text.contains("name: scratch"), "the snapshot is not named after its session:\n{text}");
    // `--all-sessions` with a managed project on the server is that project's (its panes are);
    // a server of unmanaged sessions only is `snapshot`, whatever directory it is taken in.
    s.tmux(&["kill-session", "-t", "=scratch"]);
    let f = file.to_str().unwrap();
    let plan = s.expect(&["plan", "-f", f], 0);
    assert!(!plan.contains("work/") && !plan.contains("more/"), "the project's panes are in its plan:\n{plan}");
    s.expect(&["restore", f, "--no-daemon"], 0);
    assert_eq!(s.tmux(&["list-panes", "-t", "=scratch:", "-F", "#{pane_current_command}"]), "sleep\nsleep\n");
    s.expect(&["down", "-f", f], 0);
    assert_eq!(s.panes().iter().filter(|p| p.0.starts_with("scratch/")).count(), 0, "{:?}", s.panes());
    let after: Vec<_> = s.panes().into_iter().filter(|p| !p.3).collect();
    assert_eq!(after, before, "down of the snapshot touched the project's panes");
    for (_, _, pid, _) in &before {
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "pid {pid} of shop was stopped");
    }

    let bare = Server::new(TEN);
    bare.tmux(&["new-session", "-d", "-s", "solo", "sleep", "3003"]);
    let all = snapshot_to(&bare, &bare.path("all.yaml"), &["--all-sessions"]);
    assert!(all.contains("name: snapshot"), "{all}");
}

/// 52 panes: four sessions of three 4-pane windows and a 1-pane one.
fn fifty_two() -> String {
    let mut m = String::from("version: 1\nname: big\nsessions:\n");
    for s in 1..=4 {
        m.push_str(&format!("  s{s}:\n    windows:\n"));
        for w in 1..=4 {
            m.push_str(&format!("      w{w}:\n        layout: tiled\n        panes:\n"));
            for p in 1..=(if w == 4 { 1 } else { 4 }) {
                m.push_str(&format!("          p{w}{p}: exec sleep {}\n", 5000 + s * 100 + w * 10 + p));
            }
        }
    }
    m
}

#[test]
fn a_restore_stopped_part_way_is_finished_by_the_next_restore() {
    use std::os::unix::process::ExitStatusExt as _;
    let s = Server::new("version: 1\nsessions: { x: echo }\n");
    std::fs::write(s.path("snap.yaml"), fifty_two()).unwrap();
    let count = || s.panes().iter().filter(|p| p.0.starts_with('s')).count();
    // SIGTERM once the first panes exist.
    let mut child = s
        .cmd(&["restore", "snap.yaml", "--no-daemon"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(30), || count() > 0), "restore built nothing");
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    eprintln!("restore after SIGTERM: {status:?} (signal {:?}), {} of 52 panes", status.signal(), count());
    // Whatever the signal left, take more away for certain: half of s2 and s3, all of s4.
    for session in ["s2", "s3"] {
        for window in ["w1", "w2"] {
            s.tmux(&["kill-pane", "-t", &format!("={session}:={window}.0")]);
            s.tmux(&["kill-pane", "-t", &format!("={session}:={window}.0")]);
        }
    }
    s.tmux(&["kill-session", "-t", "=s4"]);
    assert!(count() <= 31, "{} panes left", count());
    let out = s.ctmux(&["restore", "snap.yaml", "--no-daemon"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("nothing to restore"));
    let mut ids: Vec<String> = s.panes().into_iter().filter(|p| !p.3 && p.0.starts_with('s')).map(|p| p.0).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 52, "the second restore did not finish the job: {ids:?}");
    assert_eq!(count(), 52, "duplicate panes: {:?}", s.panes());
    // A third restore changes nothing.
    let before = s.panes();
    s.expect(&["restore", "snap.yaml", "--no-daemon"], 0);
    assert_eq!(s.panes(), before, "a restore of a complete snapshot changed panes");
    // `--plan` says which sessions it would complete.
    s.tmux(&["kill-pane", "-t", "=s1:=w1.0"]);
    s.tmux(&["kill-session", "-t", "=s4"]);
    let plan: serde_json::Value =
        serde_json::from_str(&s.expect(&["--json", "restore", "snap.yaml", "--plan"], 0)).unwrap();
    assert_eq!(plan["complete"], serde_json::json!(["s1", "s2", "s3"]), "{plan}");
    assert_eq!(plan["create"][0]["session"], "s4", "{plan}");
}
