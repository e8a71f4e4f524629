//! The toolkit verbs hold: words after `--` are the command's for every verb that takes one,
//! named panes and `session new --layout` work, and groups are per server and honest.

use std::time::Duration;

use crate::harness::{Server, eventually, read};

fn json(out: impl AsRef<[u8]>) -> serde_json::Value {
    let text = String::from_utf8_lossy(out.as_ref());
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn server() -> Server {
    let s = Server::new("version: 1\nname: kit\nsessions:\n  app:\n    panes:\n      api: exec sleep 1000\n");
    s.expect(&["session", "new", "work", "--", "sh"], 0);
    s
}

/// A script that writes its arguments, `|`-separated, to `file`, then stays alive.
fn args_to(file: &std::path::Path) -> String {
    format!("printf '%s|' \"$@\" > {}; exec sleep 1000", file.display())
}

#[test]
fn words_after_double_dash_are_the_commands_even_when_they_look_like_flags() {
    let s = server();
    // pane exec
    let out = s.ctmux(&[
        "--json",
        "pane",
        "exec",
        "work",
        "--wait",
        "--timeout",
        "30s",
        "--",
        "echo",
        "hello",
        "--timeout",
        "1s",
        "--wait",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out.stdout)["output"], "hello --timeout 1s --wait\n");
    // group exec (before `work` gets a busy pane)
    s.expect(&["group", "new", "g"], 0);
    s.expect(&["group", "add", "g", "work"], 0);
    s.expect(&["group", "exec", "g", "--", "echo", "grp", "--force", "--timeout"], 0);
    assert!(eventually(Duration::from_secs(5), || s
        .ctmux(&["pane", "has", "work", "^grp --force --timeout$"])
        .status
        .success()));
    // pane new
    let file = s.path("pane-args");
    let script = args_to(&file);
    s.expect(&["pane", "new", "work", "--", "sh", "-c", &script, "sh", "--name", "n", "--cwd", "/"], 0);
    assert!(eventually(Duration::from_secs(5), || read(&file) == "--name|n|--cwd|/|"), "{:?}", read(&file));
    assert_eq!(s.ctmux(&["pane", "status", "work/n"]).status.code(), Some(4), "--name was not ctmux's");
    // session new
    let file = s.path("session-args");
    let script = args_to(&file);
    s.expect(&["session", "new", "other", "--", "sh", "-c", &script, "sh", "--layout", "nope", "--cwd", "/x"], 0);
    assert!(eventually(Duration::from_secs(5), || read(&file) == "--layout|nope|--cwd|/x|"), "{:?}", read(&file));
    // subscribe
    let doc = json(s.expect(&["--json", "subscribe", "pane.exited", "--", "echo", "--target", "x", "--list"], 0));
    assert_eq!(doc["subscription"]["command"], serde_json::json!(["echo", "--target", "x", "--list"]));
    assert_eq!(doc["subscription"]["target"], serde_json::Value::Null);
    let _ = s.ctmux(&["daemon", "stop"]);
}

#[test]
fn a_pane_named_by_pane_new_is_addressable_like_a_manifest_pane() {
    let s = server();
    s.expect(&["up"], 0);
    let id = s.expect(&["pane", "new", "work", "--name", "worker", "--", "sh"], 0).trim().to_string();
    for target in ["work/worker", "worker"] {
        let doc = json(s.expect(&["--json", "pane", "status", target], 0));
        assert_eq!(doc["pane"]["tmux_id"], id.as_str(), "{target}");
    }
    let doc = json(
        s.expect(&["--json", "pane", "exec", "worker", "--wait", "--timeout", "30s", "--", "echo", "in-worker"], 0),
    );
    assert_eq!(doc["output"], "in-worker\n");
    // The name is taken in that session, must be addressable, and an ambiguous one says so.
    assert_eq!(s.ctmux(&["pane", "new", "work", "--name", "worker"]).status.code(), Some(2));
    assert_eq!(s.ctmux(&["pane", "new", "work", "--name", "a/b"]).status.code(), Some(2));
    s.expect(&["session", "new", "second", "--", "sh"], 0);
    s.expect(&["pane", "new", "second", "--name", "worker"], 0);
    let out = s.ctmux(&["--json", "pane", "status", "worker"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(json(&out.stdout)["error"]["message"].as_str().unwrap().contains("second/worker"));
    assert_eq!(json(s.expect(&["--json", "pane", "status", "work/worker"], 0))["pane"]["tmux_id"], id.as_str());
    // Manifest addresses still win and still resolve.
    s.expect(&["pane", "status", "app/api"], 0);
    s.expect(&["pane", "status", "api"], 0);
}

/// `(left, top, height)` of each pane of `session`'s window, in index order.
fn geometry(s: &Server, session: &str) -> Vec<(u32, u32, u32)> {
    s.tmux(&["list-panes", "-t", &format!("={session}:"), "-F", "#{pane_left} #{pane_top} #{pane_height}"])
        .lines()
        .map(|l| {
            let v: Vec<u32> = l.split(' ').map(|x| x.parse().unwrap()).collect();
            (v[0], v[1], v[2])
        })
        .collect()
}

#[test]
fn session_new_with_a_layout_keeps_it_for_the_panes_pane_new_adds() {
    let s = server();
    s.expect(&["session", "new", "mv", "--layout", "main-vertical", "--", "sh"], 0);
    s.expect(&["pane", "new", "mv", "--", "sh"], 0);
    s.expect(&["pane", "new", "mv", "--", "sh"], 0);
    let g = geometry(&s, "mv");
    let full = s.tmux(&["display-message", "-p", "-t", "=mv:", "#{window_height}"]).trim().parse::<u32>().unwrap();
    assert_eq!(g.len(), 3);
    assert_eq!((g[0].0, g[0].1, g[0].2), (0, 0, full), "main pane spans the height: {g:?}");
    assert!(g[1].0 > 0 && g[2].0 > 0 && g[1].0 == g[2].0, "others stacked on the right: {g:?}");
    // A layout string (here: two panes side by side, 30 and 209 columns) fits once there are two.
    s.expect(&["session", "new", "probe", "--", "sh"], 0);
    s.tmux(&["split-window", "-h", "-l", "30", "-b", "-t", "=probe:"]);
    let layout = s.tmux(&["display-message", "-p", "-t", "=probe:", "#{window_layout}"]).trim().to_string();
    s.expect(&["session", "new", "ls", "--layout", &layout, "--", "sh"], 0);
    s.expect(&["pane", "new", "ls", "--", "sh"], 0);
    let widths = s.tmux(&["list-panes", "-t", "=ls:", "-F", "#{pane_width}"]);
    assert_eq!(widths.lines().collect::<Vec<_>>(), ["30", "209"], "layout {layout}");
    let out = s.ctmux(&["--json", "session", "new", "bad", "--layout", "tiledd"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(json(&out.stdout)["error"]["hint"].as_str().unwrap().contains("tiled"));
}

#[test]
fn groups_belong_to_their_server_refuse_ghosts_and_report_skipped_members() {
    let a = server();
    // A second server sharing the state store, as two servers of one user do.
    let b = Server::new("version: 1\nname: kit\nsessions: {}\n");
    let on_b = |args: &[&str], code: i32| {
        let out = b.cmd(args).env("CTMUX_STATE_DIR", a.state.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    b.expect(&["session", "new", "bwork", "--", "sh"], 0);
    a.expect(&["group", "new", "mine"], 0);
    a.expect(&["group", "add", "mine", "work"], 0);
    let ls = json(on_b(&["--json", "group", "ls"], 0).as_bytes());
    assert_eq!(ls["groups"], serde_json::json!([]), "a's group leaked onto b: {ls}");
    on_b(&["group", "new", "mine"], 0);
    on_b(&["group", "add", "mine", "bwork"], 0);
    let ls = json(a.expect(&["--json", "group", "ls", "mine"], 0).as_bytes());
    assert_eq!(ls["groups"], serde_json::json!([{"name": "mine", "members": ["work"], "source": "state"}]));
    // A member that does not exist is refused, and nothing is added.
    let out = a.ctmux(&["--json", "group", "add", "mine", "ghost", "work"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(json(&out.stdout)["error"]["message"].as_str().unwrap().contains("ghost"));
    // `group ls NAME` shows that group only; an unknown one exits 4.
    a.expect(&["group", "new", "other"], 0);
    let one = json(a.expect(&["--json", "group", "ls", "other"], 0).as_bytes());
    assert_eq!(one["groups"].as_array().unwrap().len(), 1);
    assert_eq!(a.ctmux(&["group", "ls", "nosuch"]).status.code(), Some(4));
    // exec on a group with a dead member says which it skipped and exits 1.
    a.expect(&["session", "new", "gone", "--", "sh"], 0);
    a.expect(&["session", "new", "busy", "--", "sleep", "1000"], 0);
    a.expect(&["group", "add", "mine", "gone", "busy"], 0);
    a.expect(&["session", "kill", "gone"], 0);
    let out = a.ctmux(&["--json", "group", "exec", "mine", "--", "echo from-group"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out.stdout);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["panes"].as_array().unwrap().len(), 1, "{doc}");
    let skipped: Vec<&str> = doc["skipped"].as_array().unwrap().iter().map(|x| x["target"].as_str().unwrap()).collect();
    assert_eq!(skipped.len(), 2, "{doc}");
    assert!(skipped[0] == "gone" && skipped[1].starts_with("busy"), "{doc}");
    assert!(eventually(Duration::from_secs(5), || a.ctmux(&["pane", "has", "work", "^from-group$"]).status.success()));
    a.expect(&["group", "rm", "mine", "gone", "busy"], 0);
    let doc = json(a.expect(&["--json", "group", "exec", "mine", "--", "true"], 0).as_bytes());
    assert_eq!((doc["ok"].as_bool(), doc["skipped"].as_array().map(Vec::len)), (Some(true), Some(0)));
}
