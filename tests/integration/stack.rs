//! Issue 20: a stack does what the manifest and the verbs say — any locale, exact targets, the
//! daemon on the manifest the last verb read, `--wait` that tells the truth, stop/start.

use std::process::{Command, Output};
use std::time::Duration;

use crate::harness::{Server, eventually};

/// `ctmux ARGS` on `s` with an environment as bare as cron's: `env -i PATH HOME` plus the
/// harness's own variables, and `locale` as `LC_ALL` when given (none: no locale at all).
fn bare(s: &Server, locale: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ctmux"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("CTMUX_STATE_DIR", s.state.path())
        .env("XDG_RUNTIME_DIR", s.state.path())
        .env("CTMUX_TMUX_CONF", "/dev/null")
        .env("NO_COLOR", "1")
        .current_dir(s.dir.path())
        .arg("-L")
        .arg(&s.name)
        .args(args);
    if let Some(l) = locale {
        c.env("LC_ALL", l);
    }
    c.output().expect("run ctmux")
}

/// [`bare`], asserting exit `code`; returns stdout.
fn bare_ok(s: &Server, locale: Option<&str>, args: &[&str], code: i32) -> String {
    let out = bare(s, locale, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "LC_ALL={locale:?} ctmux {args:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Ten panes in three sessions, one with a non-ASCII name, each printing a marker then waiting.
const LOCALE_STACK: &str = r#"
version: 1
name: loc
sessions:
  café:
    panes:
      a: "echo ready-a; exec sleep 300"
      b: "echo ready-b; exec sleep 300"
      c: "echo ready-c; exec sleep 300"
      d: "echo ready-d; exec sleep 300"
  web:
    depends_on: [café]
    panes:
      e: "echo ready-e; exec sleep 300"
      f: "echo ready-f; exec sleep 300"
      g: "echo ready-g; exec sleep 300"
  jobs:
    panes:
      h: "echo ready-h; exec sleep 300"
      i: "echo ready-i; exec sleep 300"
      j: "echo ready-j; exec sleep 300"
"#;

/// The whole cycle — up --wait, status, plan, re-up, logs, snapshot, down — with no `LANG`,
/// with C and with POSIX: ctmux sees its panes exactly as under UTF-8.
#[test]
fn any_locale_sees_the_stack() {
    for locale in [None, Some("C"), Some("POSIX")] {
        let s = Server::new(LOCALE_STACK);
        bare_ok(&s, locale, &["up", "--wait", "--timeout", "30s"], 0);
        let status: serde_json::Value =
            serde_json::from_str(&bare_ok(&s, locale, &["status", "--json"], 0)).expect("status json");
        let panes = status["panes"].as_array().expect("panes");
        assert_eq!(panes.len(), 10, "{status}");
        for p in panes {
            assert_eq!(p["state"], "running", "LC_ALL={locale:?}: {p}");
            assert!(p["pid"].as_u64().is_some(), "{p}");
        }
        assert!(panes.iter().any(|p| p["address"] == "café/a"), "{status}");
        // Idempotent: nothing to do, and a second `up` sends no mutating command.
        bare_ok(&s, locale, &["plan", "--exit-code"], 0);
        let again = bare(&s, locale, &["up", "-v"]);
        assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
        let err = String::from_utf8_lossy(&again.stderr);
        assert!(err.contains(", 0 mutating"), "second up mutated under LC_ALL={locale:?}: {err}");
        assert_eq!(s.tmux(&["list-sessions", "-F", "#{session_name}"]).lines().count(), 3);
        // Logs (the daemon's) and a snapshot see the panes by their names.
        assert!(
            eventually(Duration::from_secs(15), || {
                let logs = String::from_utf8_lossy(&bare(&s, locale, &["logs", "-n", "50"]).stdout).into_owned();
                ["a", "e", "j"].iter().all(|p| logs.contains(&format!("ready-{p}")))
            }),
            "logs: {}",
            String::from_utf8_lossy(&bare(&s, locale, &["logs"]).stdout)
        );
        let snap: serde_json::Value =
            serde_json::from_str(&bare_ok(&s, locale, &["snapshot", "--json"], 0)).expect("snapshot json");
        assert_eq!(snap["panes"], 10, "{snap}");
        assert!(snap["manifest"].as_str().unwrap_or_default().contains("café"), "{snap}");
        let pids: Vec<u32> = panes.iter().filter_map(|p| p["pid"].as_u64()).map(|p| p as u32).collect();
        bare_ok(&s, locale, &["down"], 0);
        assert!(s.panes().is_empty(), "down left panes under LC_ALL={locale:?}: {:?}", s.panes());
        for pid in pids {
            assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "pid {pid} survived down");
        }
    }
}

/// The argv of pane `address`'s command, from /proc (empty when gone): the pane's process is
/// the sink's runner (`ctmux-sink --run -- …`), whose child runs the command.
fn argv_of(s: &Server, address: &str) -> String {
    let read = |pid: &str| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim().to_string())
            .unwrap_or_default()
    };
    let Some(pid) = s.panes().iter().find(|p| p.0 == address).map(|p| p.2.to_string()) else { return String::new() };
    let argv = read(&pid);
    if !argv.ends_with(" --run") {
        return argv;
    }
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    children.split_whitespace().next().map(read).unwrap_or_default()
}

/// Nine panes: `db/srv` becomes healthy a moment after it starts; `api/*` wait on it; `api/web`
/// and `db/flaky` have restart policies (`flaky` crash-loops); the command of each carries `v`.
fn versioned(v: u32) -> String {
    format!(
        r#"
version: 1
name: ver
shell: /bin/sh
sessions:
  db:
    panes:
      srv: {{ command: "sleep 0.3; echo ready; exec sleep 100{v}", ready_when: ready, restart: always }}
      flaky: {{ command: "echo flaky {v}; sleep 0.2; exit 1", restart: on-failure, max_restarts: 50 }}
      side: "exec sleep 200{v}"
  api:
    depends_on: {{ db/srv: healthy }}
    panes:
      web: {{ command: "exec sleep 300{v}", restart: on-failure }}
      w1: "exec sleep 310{v}"
      w2: "exec sleep 320{v}"
      w3: "exec sleep 330{v}"
      w4: "exec sleep 340{v}"
      w5: "exec sleep 350{v}"
"#
    )
}

/// Every edited pane runs its new command once things settle, and `plan` wants nothing more.
fn assert_runs_version(s: &Server, v: u32) {
    let want = [("db/srv", 100), ("api/web", 300), ("api/w1", 310), ("api/w5", 350), ("db/side", 200)];
    let ok = eventually(Duration::from_secs(20), || {
        want.iter().all(|(a, base)| argv_of(s, a) == format!("sleep {base}{v}"))
    });
    assert!(ok, "v{v}: {:?}", want.iter().map(|(a, _)| (a, argv_of(s, a))).collect::<Vec<_>>());
    // Settled: the same processes a second later (nothing restarted them with an old command).
    std::thread::sleep(Duration::from_millis(1500));
    for (a, base) in want {
        assert_eq!(argv_of(s, a), format!("sleep {base}{v}"), "v{v}: {a} changed after it settled");
    }
    let plan = s.ctmux(&["plan"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(!text.contains("recreate db/srv") && !text.contains("recreate api/"), "v{v}: plan still wants: {text}");
}

/// Edit the commands, plain `up`, three times: the recreated panes run the new commands (never
/// the held previous version), and `plan` afterwards has nothing to recreate.
#[test]
fn edited_commands_run_after_plain_up() {
    let s = Server::new(&versioned(1));
    s.expect(&["up"], 0);
    assert_runs_version(&s, 1);
    for v in 2..=4 {
        s.write(&versioned(v));
        s.expect(&["up"], 0);
        assert_runs_version(&s, v);
    }
    s.expect(&["down"], 0);
}

/// The same under `up --watch`, which reconciles on save.
#[test]
fn edited_commands_run_under_up_watch() {
    let s = Server::new(&versioned(1));
    let mut child = s.cmd(&["up", "--watch"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    assert_runs_version(&s, 1);
    for v in 2..=4 {
        s.write(&versioned(v));
        assert_runs_version(&s, v);
    }
    // SAFETY: kill(2) on the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
    s.expect(&["down"], 0);
}

const KEEP_BEFORE: &str = r#"
version: 1
name: keepme
shell: /bin/sh
gc: { exited: 2s }
sessions:
  s:
    panes:
      done: "sleep 1; echo finished"
      a: exec sleep 301
      b: exec sleep 302
      c: exec sleep 303
      d: exec sleep 304
      e: exec sleep 305
      f: exec sleep 306
      g: exec sleep 307
"#;

/// An exited pane edited to `keep: true` (no verb run) is never collected by the daemon, and
/// `gc --dry-run` agrees; taking the key away again lets the daemon collect it.
#[test]
fn keep_true_saved_after_up_is_honoured_by_the_daemon() {
    let s = Server::new(KEEP_BEFORE);
    s.expect(&["up"], 0);
    s.write(
        &KEEP_BEFORE
            .replace("done: \"sleep 1; echo finished\"", "done: { command: \"sleep 1; echo finished\", keep: true }"),
    );
    assert!(eventually(Duration::from_secs(10), || s.panes().iter().any(|p| p.0 == "s/done" && p.3)));
    std::thread::sleep(Duration::from_secs(5));
    assert!(s.panes().iter().any(|p| p.0 == "s/done"), "the daemon collected a pane the manifest keeps");
    let dry: serde_json::Value = serde_json::from_str(&s.expect(&["--json", "gc", "--dry-run"], 0)).unwrap();
    assert_eq!(dry["actions"].as_array().map(Vec::len), Some(0), "{dry}");
    // The same daemon follows the file the other way too.
    s.write(KEEP_BEFORE);
    assert!(
        eventually(Duration::from_secs(10), || !s.panes().iter().any(|p| p.0 == "s/done")),
        "the daemon did not follow the saved manifest"
    );
    assert_eq!(s.panes().len(), 7);
    s.expect(&["down"], 0);
}

/// A `--no-daemon` project's panes are never touched by the daemon another project on the
/// same server runs: not collected, not restarted.
#[test]
fn no_daemon_project_is_left_alone_by_anothers_daemon() {
    let s = Server::new(
        "version: 1\nname: withd\nshell: /bin/sh\ngc: { exited: 1s }\nsessions:\n  w:\n    panes:\n      a: exec sleep 401\n      b: exec sleep 402\n      c: exec sleep 403\n      d: exec sleep 404\n",
    );
    s.expect(&["up"], 0);
    let other = tempfile::tempdir().unwrap();
    let file = other.path().join("ctmux.yaml");
    std::fs::write(
        &file,
        "version: 1\nname: nod\nshell: /bin/sh\ngc: { exited: 1s }\nsessions:\n  n:\n    panes:\n      quick: \"echo bye\"\n      crash: { command: \"exit 3\", restart: on-failure }\n      e: exec sleep 405\n      f: exec sleep 406\n      g: exec sleep 407\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    s.expect(&["-f", f, "up", "--no-daemon"], 0);
    std::thread::sleep(Duration::from_secs(5));
    let panes = s.panes();
    assert!(panes.iter().any(|p| p.0 == "n/quick"), "another project's daemon collected a --no-daemon pane: {panes:?}");
    let crash: serde_json::Value = serde_json::from_str(&s.expect(&["-f", f, "--json", "status"], 0)).unwrap();
    let row = crash["panes"].as_array().unwrap().iter().find(|p| p["address"] == "n/crash").cloned().unwrap();
    assert_eq!(row["restarts"], 0, "another project's daemon restarted a --no-daemon pane: {row}");
    s.expect(&["-f", f, "down"], 0);
    s.expect(&["down"], 0);
}

/// Nine managed panes whose names and sessions are prefixes of each other, beside a session
/// `c` (not ctmux's) with a window `bash`.
const PREFIXES: &str = r#"
version: 1
name: tg
shell: /bin/sh
sessions:
  app:
    panes:
      a: exec sleep 601
      ab: exec sleep 602
      abc: exec sleep 603
      abcd: exec sleep 604
  apps:
    panes:
      x: exec sleep 605
      xy: exec sleep 606
      xyz: exec sleep 607
  ap2:
    panes:
      p: exec sleep 608
      pq: exec sleep 609
"#;

/// Targets are exact: a bare name tmux would prefix-match (`b` → window `bash` of session `c`)
/// or an empty target (tmux's "current pane") is exit 4 for every verb, and nothing is typed,
/// signalled or killed; exact names find exactly their pane.
#[test]
fn targets_are_exact_and_empty_is_not_found() {
    let s = Server::new(PREFIXES);
    s.expect(&["up", "--wait", "--timeout", "30s"], 0);
    s.tmux(&["new-session", "-d", "-s", "c", "-n", "bash"]);
    let before = s.tmux(&["list-panes", "-a", "-F", "#{pane_id} #{pane_pid}"]);
    assert_eq!(before.lines().count(), 10, "{before}");
    let mark = s.path("typed");
    let touch = format!("touch {}", mark.display());
    for args in [
        vec!["pane", "exec", "b", "--", touch.as_str()],
        vec!["pane", "send-keys", "b", "echo", "hi"],
        vec!["pane", "exec", "", "--", touch.as_str()],
        vec!["pane", "kill", ""],
        vec!["pane", "signal", "", "KILL"],
        vec!["pane", "send-keys", "", "x"],
        vec!["pane", "capture", ""],
        vec!["pane", "status", ""],
        vec!["pane", "new", ""],
        vec!["pane", "kill", "ap"],
        vec!["pane", "kill", "app/ab "],
        vec!["pane", "signal", "ba", "KILL"],
        vec!["pane", "kill", "c:ba"],
        vec!["pane", "kill", ":0"],
        vec!["stop", ""],
        vec!["start", ""],
        vec!["down", ""],
        vec!["restart", ""],
        vec!["logs", ""],
        vec!["status", ""],
        vec!["subscribe", "pane.exited", "--target", "", "--", "true"],
    ] {
        let out = s.ctmux(&args);
        assert_eq!(
            out.status.code(),
            Some(4),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(!mark.exists(), "a command was typed into a pane nobody named");
    assert!(!s.tmux(&["capture-pane", "-p", "-t", "=c:=bash"]).contains("touch"), "keys went to c:bash");
    assert_eq!(s.tmux(&["list-panes", "-a", "-F", "#{pane_id} #{pane_pid}"]), before, "a pane was killed or added");
    // Exact names find exactly their pane (never a longer name that starts with them).
    let id_of = |a: &str| s.panes().iter().find(|p| p.0 == a).map(|p| p.1.clone()).unwrap();
    for (target, want) in [("a", "app/a"), ("ab", "app/ab"), ("app/abc", "app/abc"), ("x", "apps/x"), ("p", "ap2/p")] {
        let doc: serde_json::Value = serde_json::from_str(&s.expect(&["--json", "pane", "status", target], 0)).unwrap();
        assert_eq!(doc["pane"]["tmux_id"], id_of(want).as_str(), "{target}: {doc}");
    }
    let doc: serde_json::Value = serde_json::from_str(&s.expect(&["--json", "pane", "status", "apps:0.2"], 0)).unwrap();
    assert_eq!(doc["pane"]["tmux_id"], id_of("apps/xyz").as_str(), "{doc}");
    let c = s.tmux(&["display-message", "-p", "-t", "=c:=bash", "#{pane_id}"]);
    let doc: serde_json::Value = serde_json::from_str(&s.expect(&["--json", "pane", "status", "c:bash"], 0)).unwrap();
    assert_eq!(doc["pane"]["tmux_id"], c.trim(), "{doc}");
    // The MCP tool too.
    let out = s
        .cmd(&["mcp"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            writeln!(stdin, r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"t","version":"0"}}}}}}"#)?;
            writeln!(stdin, r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#)?;
            writeln!(stdin, r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"pane_kill","arguments":{{"target":""}}}}}}"#)?;
            std::thread::sleep(Duration::from_secs(5));
            drop(stdin);
            child.wait_with_output()
        })
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let reply = text.lines().find(|l| l.contains(r#""id":2"#)).unwrap_or_else(|| panic!("no reply: {text}"));
    assert!(reply.contains(r#""isError":true"#) && reply.contains("not_found"), "{reply}");
    assert_eq!(s.tmux(&["list-panes", "-a", "-F", "#{pane_id} #{pane_pid}"]), before, "MCP pane_kill '' killed a pane");
    s.expect(&["down"], 0);
}

/// Eight services and a job, plus `extra` (a pane of session `t`).
fn wait_stack(extra: &str) -> String {
    format!(
        "version: 1\nname: wt\nshell: /bin/sh\nsessions:\n  s:\n    panes:\n{}      j: {{ command: \"sleep 4\", job: true }}\n  t:\n    panes:\n      {extra}\n",
        (1..=8).map(|i| format!("      s{i}: exec sleep 70{i}\n")).collect::<String>()
    )
}

/// Runs `up --wait --timeout 20s`; returns (exit code, stderr, seconds taken).
fn up_wait(s: &Server) -> (Option<i32>, String, f64) {
    let start = std::time::Instant::now();
    let out = s.ctmux(&["up", "--wait", "--timeout", "20s"]);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), start.elapsed().as_secs_f64())
}

/// `--wait` tells the truth: a service that fails while a job still runs fails the run at
/// once (exit 1, naming it); a service without a check that exits after 0.3 s is not ready;
/// a service that exits 0 is a failure with a hint to mark it `job: true`.
#[test]
fn up_wait_fails_at_once_and_only_counts_services_that_stay_up() {
    for (extra, hint) in [
        ("bad: pythn3 -V", "t/bad exited with status 127"),
        ("flap: \"sleep 0.3; exit 2\"", "t/flap exited with status 2"),
        ("once: \"echo hi\"", "job: true"),
    ] {
        let s = Server::new(&wait_stack(extra));
        let (code, err, secs) = up_wait(&s);
        assert_eq!(code, Some(1), "{extra}: {err}");
        assert!(err.contains(hint), "{extra}: {err}");
        assert!(secs < 4.0, "{extra}: took {secs:.1} s (the job runs 4 s): {err}");
        s.expect(&["down"], 0);
    }
    // All well: ready only once the services stayed up a second, and the job exited 0.
    let s = Server::new(&wait_stack("ok: exec sleep 799"));
    let (code, err, secs) = up_wait(&s);
    assert_eq!(code, Some(0), "{err}");
    assert!(secs >= 4.0, "returned before the job exited: {secs:.1} s");
    s.expect(&["down"], 0);
}

/// `a/srv` is healthy a moment after it starts; session `b` (six panes) waits on it.
const STOP_START: &str = r#"
version: 1
name: ss
shell: /bin/sh
sessions:
  a:
    panes:
      srv: { command: "sleep 0.2; echo ready; exec sleep 901", ready_when: ready }
      dep: exec sleep 902
      other: exec sleep 903
  b:
    depends_on: { a/srv: healthy }
    panes:
      w1: exec sleep 911
      w2: exec sleep 912
      w3: exec sleep 913
      w4: exec sleep 914
      w5: exec sleep 915
      w6: exec sleep 916
"#;

/// `status --json` as (address → (state, pid, waiting_for targets)).
fn states(s: &Server) -> std::collections::BTreeMap<String, (String, Option<u64>, Vec<String>)> {
    s.status()["panes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let waits = p["waiting_for"]
                .as_array()
                .map(|w| w.iter().filter_map(|x| x["target"].as_str().map(String::from)).collect())
                .unwrap_or_default();
            (
                p["address"].as_str().unwrap().to_string(),
                (p["state"].as_str().unwrap().to_string(), p["pid"].as_u64(), waits),
            )
        })
        .collect()
}

fn all_running(s: &Server) -> bool {
    states(s).values().all(|(state, pid, _)| state == "running" && pid.is_some())
}

/// `start T` is `up T`: dependencies first, waiting panes handed over. `stop a b; start a b`
/// and `stop b; start b` bring everything back; a stopped pane has no pid; a pane started while
/// its dependency is stopped is `waiting` with `waiting_for`; a plain `up` recovers it all.
#[test]
fn stop_and_start_with_dependencies() {
    let s = Server::new(STOP_START);
    s.expect(&["up", "--wait", "--timeout", "30s"], 0);
    for round in 0..3 {
        s.expect(&["stop", "a", "b"], 0);
        assert!(
            states(&s).values().all(|(st, pid, _)| st == "stopped" && pid.is_none()),
            "round {round}: {:?}",
            states(&s)
        );
        s.expect(&["start", "a", "b"], 0);
        assert!(eventually(Duration::from_secs(15), || all_running(&s)), "round {round}: {:?}", states(&s));
    }
    s.expect(&["stop", "b"], 0);
    s.expect(&["start", "b"], 0);
    assert!(eventually(Duration::from_secs(15), || all_running(&s)), "stop b; start b: {:?}", states(&s));
    // b started while its dependency is stopped: waiting, for a/srv.
    s.expect(&["stop", "a/srv", "b"], 0);
    let st = states(&s);
    assert_eq!(st["a/srv"].0, "stopped");
    assert_eq!(st["a/srv"].1, None, "a stopped pane shows no pid: {st:?}");
    s.expect(&["start", "b/w1"], 0);
    assert!(
        eventually(Duration::from_secs(10), || {
            let st = states(&s);
            st["a/srv"].0 == "running" && st["b/w1"].0 == "running"
        }),
        "start b/w1 starts what it depends on first: {:?}",
        states(&s)
    );
    // Plain `up` recovers every stopped pane.
    s.expect(&["stop", "a/srv", "b"], 0);
    s.expect(&["up"], 0);
    assert!(eventually(Duration::from_secs(15), || all_running(&s)), "plain up: {:?}", states(&s));
    s.expect(&["down"], 0);
}
