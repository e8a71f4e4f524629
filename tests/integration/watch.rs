//! A pane's `watch:` on a real tmux server with 9 panes: a file edit restarts the pane, its
//! dependents follow once it is healthy again (`cascade`), an edit storm restarts it once,
//! ignored and default-ignored paths restart nothing, and everything is in `ctmux events`.

use std::time::Duration;

use crate::harness::{Server, eventually};

const MANIFEST: &str = r#"version: 1
name: watched
sessions:
  app:
    panes:
      api:
        command: sleep 0.5; echo API READY; exec sleep 300
        ready_when: API READY
        watch: { paths: ["src/**/*.py", "config.toml"], ignore: ["*.tmp"], debounce: 300ms, cascade: true }
      web:
        command: exec sleep 300
        depends_on: { api: healthy }
      worker:
        command: exec sleep 300
        depends_on: [web]
      plain:
        command: exec sleep 300
        watch: [notes.txt]
  side:
    panes: { s1: exec sleep 300, s2: exec sleep 300, s3: exec sleep 300, s4: exec sleep 300, s5: exec sleep 300 }
"#;

/// The project's events of `kind` (oldest first) as (id, address, data).
fn events(s: &Server, kind: &str) -> Vec<(i64, String, serde_json::Value)> {
    let out = s.expect(&["events", "--json", "--kind", kind], 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["project"] == "watched")
        .map(|e| (e["id"].as_i64().unwrap(), e["address"].as_str().unwrap_or_default().to_string(), e["data"].clone()))
        .collect()
}

fn count(s: &Server, kind: &str, address: &str) -> usize {
    events(s, kind).iter().filter(|(_, a, _)| a == address).count()
}

fn pids(s: &Server) -> std::collections::BTreeMap<String, u32> {
    s.panes().into_iter().map(|(a, _, pid, _)| (a, pid)).collect()
}

#[test]
fn an_edit_restarts_the_pane_then_its_dependents_and_a_storm_restarts_it_once() {
    let s = Server::new(MANIFEST);
    std::fs::create_dir_all(s.path("src/pkg")).unwrap();
    std::fs::create_dir_all(s.path("src/node_modules")).unwrap();
    std::fs::write(s.path("src/pkg/app.py"), "print(1)\n").unwrap();
    s.expect(&["up", "--wait", "--timeout", "60s"], 0);
    let before = pids(&s);
    assert_eq!(before.len(), 9);

    // One edit (an editor's save: write a new file, rename it over the old one).
    std::fs::write(s.path("src/pkg/.app.py.swp"), "print(2)\n").unwrap();
    std::fs::rename(s.path("src/pkg/.app.py.swp"), s.path("src/pkg/app.py")).unwrap();
    assert!(
        eventually(Duration::from_secs(20), || count(&s, "pane.restarted", "app/worker") == 1),
        "no cascade: {:?}",
        events(&s, "*")
    );
    let changed = events(&s, "watch.changed");
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].1, "app/api");
    assert!(changed[0].2["files"].as_array().unwrap().iter().any(|f| f == "src/pkg/app.py"), "{changed:?}");
    assert_eq!(count(&s, "pane.restarted", "app/api"), 1);
    assert_eq!(count(&s, "pane.restarted", "app/web"), 1);
    // The cascade came after api was healthy again: its health event after the restart first.
    let api_restart = events(&s, "pane.restarted").into_iter().find(|e| e.1 == "app/api").unwrap().0;
    let healthy_again = events(&s, "health.changed")
        .into_iter()
        .find(|e| e.1 == "app/api" && e.0 > api_restart && e.2["to"] == "healthy")
        .expect("api healthy after its restart")
        .0;
    let cascaded = events(&s, "watch.cascaded");
    assert_eq!(cascaded.len(), 1, "{cascaded:?}");
    assert!(cascaded[0].0 > healthy_again, "cascade before api was healthy: {cascaded:?}");
    let mut dependents: Vec<String> =
        cascaded[0].2["dependents"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect();
    dependents.sort();
    assert_eq!(dependents, ["app/web", "app/worker"]);
    // Same panes, new processes for api, web, worker; nothing else touched.
    assert!(eventually(Duration::from_secs(10), || {
        let now = pids(&s);
        ["app/api", "app/web", "app/worker"].iter().all(|a| now[*a] != before[*a])
    }));
    let now = pids(&s);
    for (address, pid) in &before {
        if !["app/api", "app/web", "app/worker"].contains(&address.as_str()) {
            assert_eq!(now[address], *pid, "{address} was restarted");
        }
    }

    // A storm: 100 writes within a second restart api once.
    for i in 0..100 {
        std::fs::write(s.path("src/pkg/app.py"), format!("print({i})\n")).unwrap();
        std::thread::sleep(Duration::from_millis(9));
    }
    assert!(eventually(Duration::from_secs(20), || count(&s, "pane.restarted", "app/worker") == 2));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count(&s, "watch.changed", "app/api"), 2, "{:?}", events(&s, "watch.changed"));
    assert_eq!(count(&s, "pane.restarted", "app/api"), 2);
    assert_eq!(count(&s, "pane.restarted", "app/worker"), 2);

    // Ignored (`*.tmp`), default-ignored (node_modules) and unmatched files restart nothing;
    // a literal path (`notes.txt`) restarts its pane only, with no cascade.
    std::fs::write(s.path("src/pkg/x.tmp"), "x").unwrap();
    std::fs::write(s.path("src/node_modules/dep.py"), "x").unwrap();
    std::fs::write(s.path("README.md"), "x").unwrap();
    std::fs::write(s.path("notes.txt"), "x").unwrap();
    assert!(eventually(Duration::from_secs(20), || count(&s, "pane.restarted", "app/plain") == 1));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count(&s, "watch.changed", "app/api"), 2, "{:?}", events(&s, "watch.changed"));
    assert_eq!(count(&s, "pane.restarted", "app/api"), 2);
    assert_eq!(events(&s, "watch.cascaded").len(), 2);

    // A stopped pane is not restarted by a change.
    s.expect(&["stop", "app/plain"], 0);
    std::fs::write(s.path("notes.txt"), "y").unwrap();
    assert!(eventually(Duration::from_secs(10), || count(&s, "watch.changed", "app/plain") == 2));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count(&s, "pane.restarted", "app/plain"), 1);
    s.expect(&["down"], 0);
}

#[test]
fn bad_watch_globs_are_manifest_errors_pointing_at_the_line() {
    let s = Server::new(
        "version: 1\nsessions:\n  a:\n    panes:\n      p:\n        command: sleep 1\n        watch: { paths: [\"src/[.py\"], debounce: 1x }\n",
    );
    let out = s.ctmux(&["validate"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad glob `src/[.py`"), "{stderr}");
    assert!(stderr.contains("ctmux.yaml:7"), "{stderr}");
    assert!(stderr.contains("debounce"), "{stderr}");
    s.write("version: 1\nsessions:\n  a:\n    panes:\n      p:\n        command: sleep 1\n        watch: { paths: [../x] }\n");
    let stderr = String::from_utf8_lossy(&s.ctmux(&["validate"]).stderr).into_owned();
    assert!(stderr.contains("without `..`"), "{stderr}");
}

#[test]
fn a_daemon_killed_with_sigkill_comes_back_watching() {
    let s = Server::new(MANIFEST);
    std::fs::create_dir_all(s.path("src")).unwrap();
    s.expect(&["up", "--wait", "--timeout", "60s"], 0);
    let pid = |s: &Server| -> Option<i64> {
        let out = s.ctmux(&["--json", "daemon", "status"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).ok()?["status"]["pid"].as_i64()
    };
    let old = pid(&s).expect("a daemon runs");
    // SAFETY: kill(2) on the daemon this test started.
    unsafe { libc::kill(old as i32, libc::SIGKILL) };
    // Its supervisor brings it back by itself; no verb needed (`daemon status` only reads).
    assert!(eventually(Duration::from_secs(15), || pid(&s).is_some_and(|p| p != old)), "the daemon did not come back");
    // Give the new daemon its moment to adopt the project (it reads tmux at start).
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(s.path("config.toml"), "x = 1\n").unwrap();
    assert!(
        eventually(Duration::from_secs(20), || count(&s, "pane.restarted", "app/worker") == 1),
        "after the daemon's restart a change restarted nothing: {:?}",
        events(&s, "watch.changed")
    );
    assert_eq!(count(&s, "pane.restarted", "app/api"), 1);
    s.expect(&["down"], 0);
}
