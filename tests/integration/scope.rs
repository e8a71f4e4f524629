//! Issue 10: `up`, `down` and health checks do exactly what they say — on every pane (ids past
//! `%9`), on this tmux server only, on an empty server, and politely.

use std::time::Duration;

use crate::harness::{Server, eventually, stderr_lines_of};

/// Nine panes with `ready_when` (ids `%0`…`%8`, then `%9`+ for the dependent), each with
/// metadata, in a directory whose name tmux would expand as a format (`#S`).
fn nine_ready_panes() -> String {
    let mut m = String::from("version: 1\nname: nine\nsessions:\n  svc:\n    panes:\n");
    for i in 0..9 {
        m.push_str(&format!(
            "      p{i}:\n        command: echo ready-{i}; exec sleep 1000\n        ready_when: ready-{i}\n        metadata: {{ n: \"{i}\" }}\n"
        ));
    }
    m.push_str("  app:\n    depends_on: { svc: healthy }\n    cwd: ./odd#S%3dir\n    panes:\n      web:\n        command: pwd > ../where; exec sleep 1000\n        metadata: { n: web }\n");
    m
}

#[test]
fn ready_when_matches_on_panes_past_percent_9_and_metadata_is_read_for_every_pane() {
    let s = Server::new(&nine_ready_panes());
    std::fs::create_dir(s.path("odd#S%3dir")).unwrap();
    s.expect(&["up", "--wait", "--timeout", "30s"], 0);
    let status = s.status();
    let panes = status["panes"].as_array().unwrap();
    assert_eq!(panes.len(), 10, "{status}");
    for p in panes {
        if p["address"] != "app/web" {
            assert_eq!(p["health"], "healthy", "{p}");
        }
    }
    // The dependent started in the directory the manifest names, not one tmux expanded.
    assert!(eventually(Duration::from_secs(10), || !crate::harness::read(&s.path("where")).is_empty()));
    assert_eq!(
        crate::harness::read(&s.path("where")).trim(),
        s.path("odd#S%3dir").canonicalize().unwrap().to_string_lossy()
    );
    let ls: serde_json::Value = serde_json::from_str(&s.expect(&["pane", "ls", "--detailed", "--json"], 0)).unwrap();
    let ls = ls["panes"].as_array().unwrap();
    assert_eq!(ls.len(), 10);
    for p in ls {
        let address = p["address"].as_str().unwrap();
        let want =
            if address == "app/web" { "web".to_string() } else { address.trim_start_matches("svc/p").to_string() };
        assert_eq!(p["metadata"]["n"], want.as_str(), "{p}");
    }
}

/// Starts `s`'s tmux server with no session, kept alive (`exit-empty off`, as a user's
/// `.tmux.conf` may say).
fn start_empty_server(s: &Server) {
    let out = std::process::Command::new("tmux")
        .args(["-L", &s.name, "-f", "/dev/null", "start-server", ";", "set", "-g", "exit-empty", "off"])
        .env_remove("TMUX")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(s.tmux(&["list-sessions"]), "");
}

const ONE_PANE: &str = "version: 1\nname: empty\nsessions:\n  dev:\n    panes:\n      a: exec sleep 1000\n";

#[test]
fn an_empty_server_is_empty_for_status_session_ls_up_and_down() {
    let s = Server::new(ONE_PANE);
    start_empty_server(&s);
    let missing = |s: &Server| {
        let status = s.status();
        status["panes"].as_array().unwrap().iter().all(|p| p["state"] == "missing" && p["tmux_id"].is_null())
    };
    assert!(missing(&s));
    let ls: serde_json::Value = serde_json::from_str(&s.expect(&["session", "ls", "--json"], 0)).unwrap();
    assert_eq!(ls["sessions"], serde_json::json!([]), "{ls}");
    s.expect(&["pane", "ls", "--json"], 0);
    s.expect(&["plan", "--json"], 0);
    for _ in 0..5 {
        s.expect(&["up", "--no-daemon"], 0);
        assert_eq!(s.status()["panes"][0]["state"], "running");
        s.expect(&["down"], 0);
        // The server stays, with no session.
        assert_eq!(s.tmux(&["list-sessions"]), "");
        assert!(missing(&s));
    }
}

#[test]
fn up_and_down_interleaved_on_a_server_kept_alive_never_fail() {
    let s = Server::new(&ONE_PANE.replace("name: empty", "name: interleaved"));
    start_empty_server(&s);
    let mut failures = Vec::new();
    std::thread::scope(|scope| {
        let ups = scope.spawn(|| (0..15).map(|_| s.ctmux(&["up", "--no-daemon"])).collect::<Vec<_>>());
        let downs = scope.spawn(|| (0..15).map(|_| s.ctmux(&["down"])).collect::<Vec<_>>());
        for out in ups.join().unwrap().into_iter().chain(downs.join().unwrap()) {
            if !out.status.success() {
                failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
            }
        }
    });
    assert!(failures.is_empty(), "{} of 30 calls failed: {failures:#?}", failures.len());
}

/// An HTTP server in Python's standard library, as `examples/stack/api.py` is: its stderr
/// (where `socketserver` prints a traceback for a reset connection) goes to `err.log`, and each
/// request it served is a line of `served.log`.
const PYTHON_HTTP: &str = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"healthy\n" * 200
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        with open("served.log", "a") as f:
            f.write(fmt % args + "\n")
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

#[test]
fn http_probes_close_politely_so_python_servers_log_no_connection_reset() {
    let port = crate::harness::free_port();
    let s = Server::new(&format!(
        r#"
version: 1
name: polite
sessions:
  web:
    panes:
      api:
        command: exec python3 -u server.py {port} 2> err.log
        health: {{ http: "http://127.0.0.1:{port}/health", interval: 100ms, start_interval: 100ms, timeout: 2s }}
"#
    ));
    std::fs::write(s.path("server.py"), PYTHON_HTTP).unwrap();
    s.expect(&["up", "--wait", "--timeout", "30s"], 0);
    // The daemon goes on probing every 100 ms.
    let served = || crate::harness::read(&s.path("served.log")).lines().count();
    assert!(eventually(Duration::from_secs(30), || served() >= 40), "only {} probes served", served());
    s.expect(&["down"], 0);
    let err = crate::harness::read(&s.path("err.log"));
    assert!(!err.contains("Traceback") && !err.contains("Error"), "the server logged:\n{err}");
    assert!(crate::harness::read(&s.path("served.log")).lines().all(|l| l.contains("\"GET /health HTTP/1.1\" 200")));
}

/// A pane that leaves a daemonized child (its own session, parent gone): only the `CTMUX_*`
/// marks find it. Each process appends `<TMUX> <role> <pid>` to `pids`.
const DAEMONIZING: &str = r#"
version: 1
name: twin
sessions:
  dev:
    panes:
      a:
        command: |
          setsid sh -c 'echo "$$TMUX bg $$$$" >> pids; exec sleep 1001' &
          echo "$$TMUX fg $$$$" >> pids
          exec sleep 1000
        stop: { timeout: 2s }
"#;

/// `(role, pid)` of the live processes `server`'s panes recorded in `pids`.
fn recorded(s: &Server, server: &Server) -> Vec<(String, u32)> {
    let socket = server.tmux(&["display-message", "-p", "#{socket_path},#{pid},"]).trim().to_string();
    crate::harness::read(&s.path("pids"))
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let tmux = f.next()?;
            let (role, pid) = (f.next()?.to_string(), f.next()?.parse().ok()?);
            tmux.starts_with(&socket).then_some((role, pid))
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

#[test]
fn down_and_restart_on_one_server_leave_the_same_project_on_another_server_alone() {
    let a = Server::new(DAEMONIZING);
    let b = Server::new("");
    // The same project from the same directory, on two servers.
    let on_b = |args: &[&str]| {
        let out = b.cmd(args).current_dir(a.dir.path()).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    a.expect(&["up"], 0);
    on_b(&["up"]);
    let two = |s: &Server| eventually(Duration::from_secs(10), || recorded(&a, s).len() == 2);
    assert!(two(&a) && two(&b), "{}", crate::harness::read(&a.path("pids")));
    let (a_pids, b_pids) = (recorded(&a, &a), recorded(&a, &b));
    assert!(a_pids.iter().chain(&b_pids).all(|(_, p)| alive(*p)));

    // restart on a: a's processes (the daemonized one too) are replaced; b's are untouched.
    a.expect(&["restart", "dev/a"], 0);
    assert!(a_pids.iter().all(|(_, p)| !alive(*p)), "restart left a's old processes: {a_pids:?}");
    assert!(b_pids.iter().all(|(_, p)| alive(*p)), "restart on a killed b's processes: {b_pids:?}");

    // down on a: every process of a's pane is gone; b's are alive.
    assert!(eventually(Duration::from_secs(10), || recorded(&a, &a).len() == 4));
    let a_now = recorded(&a, &a);
    a.expect(&["down"], 0);
    assert!(a_now.iter().all(|(_, p)| !alive(*p)), "down left a's processes: {a_now:?}");
    assert!(b_pids.iter().all(|(_, p)| alive(*p)), "down on a killed b's processes: {b_pids:?}");
    on_b(&["down"]);
    assert!(b_pids.iter().all(|(_, p)| !alive(*p)), "down on b left its processes: {b_pids:?}");
}

#[test]
fn up_wait_waits_for_a_job_to_exit_0_and_fails_at_once_when_it_exits_non_zero() {
    let s = Server::new(
        r#"
version: 1
name: jobs
sessions:
  dev:
    panes:
      web: exec sleep 1000
      seed:
        command: sleep 1.5; echo seeded > seeded; exit 0
        job: true
  ops:
    panes:
      migrate: sleep 1; echo migrated > migrated; exit 0
      report:
        command: echo report-ran; exec sleep 1000
        depends_on: { migrate: completed }
"#,
    );
    let start = std::time::Instant::now();
    s.expect(&["up", "--wait", "--timeout", "30s"], 0);
    let took = start.elapsed();
    // Both jobs (declared, and implied by `completed`) had exited 0 when --wait returned.
    assert_eq!(crate::harness::read(&s.path("seeded")), "seeded\n", "up --wait returned after {took:?}");
    assert_eq!(crate::harness::read(&s.path("migrated")), "migrated\n");
    assert!(took >= Duration::from_millis(1500), "{took:?}");

    let failing = Server::new(
        r#"
version: 1
name: failing
sessions:
  dev:
    panes:
      web: exec sleep 1000
      job:
        command: sleep 1; echo boom; exit 7
        job: true
"#,
    );
    let start = std::time::Instant::now();
    let out = failing.ctmux(&["up", "--wait", "--timeout", "60s", "--json"]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(took < Duration::from_secs(20), "did not fail at once: {took:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = &doc["error"];
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("dev/job") && message.contains("status 7"), "{doc}");
    assert!(error["hint"].as_str().unwrap().contains("boom"), "{doc}");
}

/// `db/postgres` gets ready when the test creates `go`; `api/server` waits for it to be healthy.
const WAITS_FOR_GO: &str = r#"
version: 1
name: handoff
sessions:
  db:
    panes:
      postgres:
        command: while [ ! -f go ]; do sleep 0.05; done; echo ready to accept connections; exec sleep 1000
        ready_when: ready to accept connections
  api:
    depends_on: { db: healthy }
    panes:
      server: echo started > api-started; exec sleep 1000
"#;

fn pane_of<'a>(status: &'a serde_json::Value, address: &str) -> &'a serde_json::Value {
    status["panes"].as_array().unwrap().iter().find(|p| p["address"] == address).unwrap()
}

#[test]
fn plain_up_returns_and_the_daemon_starts_a_waiting_pane_when_its_dependency_gets_healthy() {
    let s = Server::new(WAITS_FOR_GO);
    let out = s.ctmux(&["up"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 waiting"), "{}", String::from_utf8_lossy(&out.stdout));
    let status = s.status();
    let api = pane_of(&status, "api/server");
    assert_eq!(api["state"], "waiting", "{status}");
    assert!(api["pid"].is_null(), "a waiting pane showed the placeholder's pid: {api}");
    assert_eq!(api["waiting_for"], serde_json::json!([{ "target": "db/postgres", "condition": "healthy" }]));
    assert!(
        eventually(Duration::from_secs(10), || s
            .tmux(&["capture-pane", "-p", "-t", "=api:"])
            .contains("ctmux: waiting for db/postgres healthy")),
        "{}",
        s.tmux(&["capture-pane", "-p", "-t", "=api:"])
    );
    let human = s.expect(&["status"], 0);
    assert!(human.contains("waiting") && human.contains("(waiting for db/postgres healthy)"), "{human}");
    // Another `up` leaves the waiting placeholder alone.
    let again = s.ctmux(&["-v", "up"]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success() && err.contains(", 0 mutating"), "{err}");
    assert_eq!(pane_of(&s.status(), "api/server")["tmux_id"], api["tmux_id"]);
    // Later, with no `up` running, the dependency gets healthy: the daemon starts the pane.
    std::fs::write(s.path("go"), "").unwrap();
    assert!(
        eventually(Duration::from_secs(20), || crate::harness::read(&s.path("api-started")) == "started\n"),
        "the waiting pane never started; status: {}",
        s.status()
    );
    let status = s.status();
    assert_eq!(pane_of(&status, "api/server")["state"], "running", "{status}");
    assert!(pane_of(&status, "api/server").get("waiting_for").is_none());
}

/// Waits for a line containing `text`; returns every line seen.
fn wait_line(rx: &std::sync::mpsc::Receiver<String>, text: &str) -> Result<Vec<String>, Vec<String>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
        let hit = line.contains(text);
        seen.push(line);
        if hit {
            return Ok(seen);
        }
    }
    Err(seen)
}

#[test]
fn a_killed_up_wait_leaves_its_waiting_pane_to_the_daemon_and_a_lock_wait_says_what_it_waits_for() {
    use std::process::Stdio;
    let s = Server::new(WAITS_FOR_GO);
    let mut first = s.cmd(&["up", "--wait", "--timeout", "120s"]).stderr(Stdio::piped()).spawn().unwrap();
    let first_err = stderr_lines_of(&mut first);
    wait_line(&first_err, "waiting for db/postgres healthy").expect("up --wait built the placeholder");
    // A second `up` waits for the first one's lock and says so after a second.
    let mut second = s.cmd(&["up"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let second_err = stderr_lines_of(&mut second);
    let notice = format!("ctmux: waiting for ctmux up (pid {}) to finish with handoff", first.id());
    wait_line(&second_err, &notice).unwrap_or_else(|seen| panic!("no lock notice in {seen:?}"));
    // `up --wait` dies: nothing of its work may stay undone.
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(second.wait().unwrap().code(), Some(0));
    assert_eq!(pane_of(&s.status(), "api/server")["state"], "waiting");
    std::fs::write(s.path("go"), "").unwrap();
    assert!(
        eventually(Duration::from_secs(20), || crate::harness::read(&s.path("api-started")) == "started\n"),
        "the waiting pane never started; status: {}",
        s.status()
    );
}

#[test]
fn up_no_daemon_without_wait_says_what_it_leaves_waiting() {
    let s = Server::new(WAITS_FOR_GO);
    let out = s.ctmux(&["up", "--no-daemon"]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("left waiting, with no daemon to start them: api/server (for db/postgres healthy)"), "{err}");
    assert_eq!(pane_of(&s.status(), "api/server")["state"], "waiting");
    // `up --wait` finishes the job once the dependency is healthy.
    std::fs::write(s.path("go"), "").unwrap();
    s.expect(&["up", "--no-daemon", "--wait", "--timeout", "30s"], 0);
    assert_eq!(pane_of(&s.status(), "api/server")["state"], "running");
}
