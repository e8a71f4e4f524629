//! Garbage collection on real tmux servers: what is due goes, nothing else does — not on this
//! server, and nothing at all on a second server running the same project.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::harness::{Server, eventually};

fn manifest(with_orphans: bool) -> String {
    let mut jobs = String::new();
    for i in 1..=8 {
        jobs += &format!("      done{i}: \"true\"\n");
    }
    if with_orphans {
        jobs += "      gone: \"true\"\n      ghostrun: sleep 600\n";
    }
    format!(
        r#"version: 1
name: shop
gc: {{ exited: 1s, idle: 2s, orphans: remove }}
sessions:
  jobs:
    panes:
{jobs}      kept: {{ command: "true", keep: true }}
      svc: sleep 600
      flaky: {{ command: "exit 3", restart: on-failure }}
      later: {{ command: "true", gc: {{ exited: 1h }} }}
  watched:
    panes:
      w: "true"
  idle:
    # A login bash here runs `pyenv rehash` from ~/.bashrc, which waits up to 60 s on a stale
    # lock: a shell running something is not idle, so the idle shell is a plain sh.
    shell: /bin/sh
    panes:
      sh:
  notes:
    keep: true
    panes:
      sh:
"#
    )
}

fn pane_ids(s: &Server) -> BTreeSet<String> {
    s.tmux(&["list-panes", "-a", "-F", "#{session_name}/#{@ctmux-id}/#{pane_id}"]).lines().map(String::from).collect()
}

fn addresses(s: &Server) -> BTreeSet<String> {
    s.tmux(&["list-panes", "-a", "-F", "#{session_name}:#{@ctmux-id}"]).lines().map(String::from).collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn gc_removes_what_is_due_and_nothing_else_on_either_server() {
    let a = Server::new(&manifest(true));
    let b = Server::new(&manifest(true));
    a.expect(&["up", "--no-daemon"], 0);
    b.expect(&["up", "--no-daemon"], 0);
    // Then the manifest forgets two panes: orphans, one exited, one running.
    a.write(&manifest(false));
    // Not ctmux's: a dead pane in a session of its own.
    a.tmux(&["new-session", "-d", "-s", "mine", "-x", "80", "-y", "24", "sleep 0.2"]);
    a.tmux(&["set-option", "-t", "mine", "remain-on-exit", "on"]);
    // A person attached to `watched` (a real client, from a pane of another server).
    let viewer = Server::new("version: 1\nsessions:\n  v: sleep 1\n");
    let attach = format!("env -u TMUX tmux -L {} attach -t watched", a.name);
    viewer.tmux(&["new-session", "-d", "-s", "viewer", "-x", "100", "-y", "30", &attach]);
    assert!(
        eventually(Duration::from_secs(20), || a
            .tmux(&["list-clients", "-F", "#{session_name} #{client_control_mode}"])
            .lines()
            .any(|l| l == "watched 0")),
        "the viewer never attached"
    );

    // Everything due shows up in `gc status` as due now (TTLs of 1 s and 2 s).
    let due_now = |s: &Server| {
        let st = json(&s.expect(&["gc", "status", "--json"], 0));
        let now = st["now"].as_u64().unwrap();
        let acts = st["actions"].as_array().unwrap().clone();
        let due: Vec<serde_json::Value> = acts.into_iter().filter(|x| x["due"].as_u64().unwrap() <= now).collect();
        due
    };
    assert!(
        eventually(Duration::from_secs(30), || {
            let due = due_now(&a);
            due.iter().filter(|x| x["action"] == "remove_pane").count() == 9
                && due.iter().any(|x| x["action"] == "remove_session")
        }),
        "not all due: {:#?}",
        due_now(&a)
    );
    let status = json(&a.expect(&["gc", "status", "--json"], 0));
    let later: Vec<&serde_json::Value> =
        status["actions"].as_array().unwrap().iter().filter(|x| x["address"] == "jobs/later").collect();
    assert_eq!(later.len(), 1, "{status}");
    assert!(later[0]["due"].as_u64().unwrap() > status["now"].as_u64().unwrap() + 3000, "{status}");

    // --dry-run: the plan, with reasons, and nothing removed.
    let before_a = pane_ids(&a);
    let before_b = pane_ids(&b);
    let dry = json(&a.expect(&["gc", "--dry-run", "--json"], 0));
    assert_eq!(dry["dry_run"], true);
    let planned: BTreeSet<String> = dry["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["result"] == "planned")
        .map(|x| {
            format!(
                "{} {}{}",
                x["action"].as_str().unwrap(),
                x["address"].as_str().unwrap(),
                x["session"].as_str().unwrap()
            )
        })
        .collect();
    let mut want: BTreeSet<String> = (1..=8).map(|i| format!("remove_pane jobs/done{i}jobs")).collect();
    want.insert("remove_pane jobs/gonejobs".into());
    want.insert("remove_session idle".into());
    assert_eq!(planned, want, "{dry:#}");
    for x in dry["actions"].as_array().unwrap() {
        assert!(!x["reason"].as_str().unwrap().is_empty(), "{x}");
    }
    let reported: Vec<&serde_json::Value> =
        dry["actions"].as_array().unwrap().iter().filter(|x| x["result"] == "reported").collect();
    assert_eq!(reported.len(), 1, "{dry:#}");
    assert_eq!(reported[0]["address"], "jobs/ghostrun");
    assert!(reported[0]["reason"].as_str().unwrap().contains("still running"), "{dry:#}");
    assert_eq!(pane_ids(&a), before_a, "--dry-run removed something");

    // The real thing.
    let done = json(&a.expect(&["gc", "--json"], 0));
    let removed = done["actions"].as_array().unwrap().iter().filter(|x| x["result"] == "removed").count();
    assert_eq!(removed, 10, "{done:#}");
    let left = addresses(&a);
    let want_left: BTreeSet<String> = [
        "jobs:jobs/kept",
        "jobs:jobs/svc",
        "jobs:jobs/flaky",
        "jobs:jobs/later",
        "jobs:jobs/ghostrun",
        "watched:watched/w",
        "notes:notes/sh",
        "mine:",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(left, want_left);
    // The other server, same project, same ages: untouched.
    assert_eq!(pane_ids(&b), before_b);
    // Recorded, with reasons.
    let events = a.expect(&["events", "--json", "--kind", "gc.collected"], 0);
    assert_eq!(events.matches("gc.collected").count(), 10, "{events}");
    assert!(events.contains("gc.exited is 1s"), "{events}");
    // A second run finds nothing more to remove.
    let again = json(&a.expect(&["gc", "--json"], 0));
    assert!(again["actions"].as_array().unwrap().iter().all(|x| x["result"] == "reported"), "{again:#}");
}

#[test]
fn gc_aborts_a_planned_removal_when_the_pane_was_respawned_before_acting() {
    let s = Server::new(
        "version: 1\nname: back\ngc: { exited: 1s }\nsessions:\n  app:\n    panes:\n      a: \"true\"\n      b: sleep 600\n",
    );
    s.expect(&["up", "--no-daemon"], 0);
    let project = ctmux::manifest::load(&s.path("ctmux.yaml"), &Default::default()).unwrap().project;
    let manifests = std::slice::from_ref(&project);
    let tmux = ctmux::tmux::Tmux::new(ctmux::tmux::Socket::Name(s.name.clone()));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let look = || rt.block_on(ctmux::gc::observe::observe(&tmux, "A", manifests, now())).unwrap();
    // Planned from one look...
    assert!(eventually(Duration::from_secs(20), || ctmux::gc::plan(now(), &look(), manifests).len() == 1));
    let planned = ctmux::gc::plan(now(), &look(), manifests);
    assert_eq!(planned[0].address, "app/a");
    // ...the pane runs again before the action.
    let id = planned[0].pane.clone();
    s.tmux(&["respawn-pane", "-t", &id, "sleep 600"]);
    let outcomes = rt.block_on(ctmux::gc::apply::apply(&tmux, "A", manifests, planned, now())).unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].result, "aborted", "{:?}", outcomes[0]);
    assert!(s.panes().iter().any(|p| p.1 == id && !p.3), "the respawned pane is gone: {:?}", s.panes());
}

#[test]
fn gc_without_a_tmux_server_has_nothing_to_do() {
    let s = Server::new("version: 1\nname: none\ngc: { exited: 1s }\nsessions:\n  app: \"true\"\n");
    let out = s.expect(&["gc", "--json"], 0);
    assert!(json(&out)["actions"].as_array().unwrap().is_empty(), "{out}");
}

#[test]
fn the_daemon_removes_an_exited_pane_once_its_ttl_passes_and_records_why() {
    let s = Server::new(
        "version: 1\nname: timer\ngc: { exited: 2s }\nsessions:\n  app:\n    panes:\n      once: \"true\"\n      svc: sleep 600\n",
    );
    s.expect(&["up"], 0);
    assert!(
        eventually(Duration::from_secs(30), || !s.panes().iter().any(|p| p.0 == "app/once")),
        "the daemon never removed app/once: {:?}",
        s.panes()
    );
    assert!(s.panes().iter().any(|p| p.0 == "app/svc" && !p.3), "{:?}", s.panes());
    let events = json(&s.expect(&["events", "--json", "--kind", "gc.collected"], 0));
    let removed: Vec<&serde_json::Value> =
        events["events"].as_array().unwrap().iter().filter(|e| e["data"]["action"] == "remove_pane").collect();
    assert_eq!(removed.len(), 1, "{events:#}");
    assert_eq!(removed[0]["address"], "app/once");
    assert!(removed[0]["data"]["reason"].as_str().unwrap().contains("gc.exited is 2s"), "{events:#}");
}

#[test]
fn a_daemon_restarted_after_sigkill_still_collects_by_the_manifest_it_adopts() {
    let s = Server::new(
        "version: 1\nname: adopt\ngc: { exited: 2s }\nsessions:\n  app:\n    panes:\n      later: sh -c 'sleep 3'\n      svc: sleep 600\n",
    );
    s.expect(&["up"], 0);
    let pid = json(&s.expect(&["--json", "daemon", "status"], 0))["status"]["pid"].as_i64().unwrap();
    // SAFETY: kill(2) on the daemon this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert!(eventually(Duration::from_secs(10), || s.panes().iter().any(|p| p.0 == "app/later" && p.3)));
    // The next command about the stack starts a new daemon, which learns the manifest from tmux.
    s.expect(&["status"], 0);
    assert!(
        eventually(Duration::from_secs(30), || !s.panes().iter().any(|p| p.0 == "app/later")),
        "the new daemon never removed app/later: {:?}",
        s.panes()
    );
    assert!(s.panes().iter().any(|p| p.0 == "app/svc" && !p.3));
}

#[test]
fn gc_deletes_old_and_oversized_logs_but_never_a_live_panes_log() {
    let s = Server::new(
        "version: 1\nname: logs\ngc: { logs: { max_age: 7d, max_size: 1KiB } }\nsessions:\n  app:\n    panes:\n      web: sh -c 'echo hi; sleep 600'\n",
    );
    s.expect(&["up", "--no-daemon"], 0);
    let dir = s.logs().join("logs/app");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, bytes: usize, age: &str| {
        let path = dir.join(name);
        std::fs::write(&path, vec![b'x'; bytes]).unwrap();
        let ok = std::process::Command::new("touch").args(["-d", age]).arg(&path).status().unwrap().success();
        assert!(ok);
        path
    };
    let ancient = write("gone.log", 10, "10 days ago");
    let big_old = write("old.log", 900, "3 days ago");
    let big_newer = write("newer.log", 900, "2 days ago");
    // The live pane's own log: old, and still never deleted.
    let live = write("web.log", 100, "30 days ago");
    let done = json(&s.expect(&["gc", "--json"], 0));
    let removed: BTreeSet<String> = done["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["action"] == "remove_log" && x["result"] == "removed")
        .map(|x| x["path"].as_str().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = [&ancient, &big_old].iter().map(|p| p.display().to_string()).collect();
    assert_eq!(removed, want, "{done:#}");
    assert!(!ancient.exists() && !big_old.exists());
    assert!(big_newer.exists() && live.exists());
}

#[test]
fn concurrent_gc_runs_remove_each_object_once_and_all_succeed() {
    let mut panes = String::new();
    for i in 0..10 {
        panes += &format!("      j{i}: \"true\"\n");
    }
    let s = Server::new(&format!(
        "version: 1\nname: race\ngc: {{ exited: 1s }}\nsessions:\n  app:\n    panes:\n{panes}      svc: sleep 600\n"
    ));
    s.expect(&["up", "--no-daemon"], 0);
    assert!(eventually(Duration::from_secs(30), || {
        json(&s.expect(&["gc", "--dry-run", "--json"], 0))["actions"].as_array().unwrap().len() == 10
    }));
    let outs: Vec<std::process::Output> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..3).map(|_| scope.spawn(|| s.ctmux(&["gc", "--json"]))).collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut removed = 0;
    for out in &outs {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let doc = json(&String::from_utf8_lossy(&out.stdout));
        removed += doc["actions"].as_array().unwrap().iter().filter(|x| x["result"] == "removed").count();
    }
    assert_eq!(removed, 10);
    let left: Vec<String> = s.panes().into_iter().map(|p| p.0).collect();
    assert_eq!(left, vec!["app/svc".to_string()]);
    let events = s.expect(&["events", "--json", "--kind", "gc.collected"], 0);
    assert_eq!(events.matches("\"remove_pane\"").count(), 10, "{events}");
}
