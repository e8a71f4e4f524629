//! `ctmux mcp` driven by real MCP clients (rmcp's, and Python's when installed) against a
//! private tmux server.

use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::harness::{Server, eventually};

/// Nine managed panes in nine sessions (so later tmux ids are past %9), one of them a shell.
const MANIFEST: &str = r#"
version: 1
name: mcp
sessions:
  app:
    panes:
      web: sh -c 'echo web is ready; exec sleep 1000'
      sh: { command: [sh, -i] }   # an interactive shell (no login profile), which pane_exec drives
  s1: { panes: { p: sleep 1001 } }
  s2: { panes: { p: sleep 1002 } }
  s3: { panes: { p: sleep 1003 } }
  s4: { panes: { p: sleep 1004 } }
  s5: { panes: { p: sleep 1005 } }
  s6: { panes: { p: sleep 1006 } }
  s7: { panes: { p: sleep 1007 } }
"#;

type Client = RunningService<RoleClient, ()>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// `ctmux -L <server> mcp ARGS` as an MCP client's child, with `env` set.
async fn connect(server: &Server, args: &[&str], env: &[(&str, &str)]) -> Client {
    let mut all = vec!["mcp"];
    all.extend_from_slice(args);
    let mut cmd = tokio::process::Command::from(server.cmd(&all));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let transport = TokioChildProcess::new(cmd).expect("spawn ctmux mcp");
    tokio::time::timeout(Duration::from_secs(30), ().serve(transport))
        .await
        .expect("handshake in time")
        .expect("handshake")
}

/// Calls `name` with `args`; returns (is_error, the structured document).
async fn call(client: &Client, name: &'static str, args: Value) -> (bool, Value) {
    let Value::Object(args) = args else { panic!("arguments must be an object") };
    let res: CallToolResult = tokio::time::timeout(
        Duration::from_secs(90),
        client.call_tool(CallToolRequestParams::new(name).with_arguments(args)),
    )
    .await
    .unwrap_or_else(|_| panic!("{name}: no answer in 90 s"))
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let doc = res.structured_content.clone().unwrap_or_else(|| {
        let text = format!("{res:?}");
        panic!("{name}: no structured content: {}", &text[..text.len().min(2000)])
    });
    // The text content is the same document.
    let text = res.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).expect("text content");
    assert_eq!(serde_json::from_str::<Value>(&text).expect("text is JSON"), doc, "{name}");
    (res.is_error == Some(true), doc)
}

/// Processes whose command line contains `needle`.
fn processes_with(needle: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    dir.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(needle))
        .count()
}

#[test]
fn mcp_client_lists_tools_and_drives_a_stack_up_exec_wait_logs_down() {
    let server = Server::new(MANIFEST);
    runtime().block_on(async {
        let client = connect(&server, &[], &[]).await;
        let tools = client.list_all_tools().await.expect("tools/list");
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        for want in [
            "up",
            "down",
            "status",
            "plan",
            "validate",
            "pane_exec",
            "pane_wait",
            "pane_capture",
            "pane_send_keys",
            "pane_new",
            "pane_kill",
            "session_new",
            "session_ls",
            "logs",
            "events",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        for t in &tools {
            let destructive = t.annotations.as_ref().and_then(|a| a.destructive_hint);
            assert_eq!(destructive, Some(matches!(t.name.as_ref(), "down" | "pane_kill")), "{}", t.name);
        }

        let (err, up) = call(&client, "up", json!({"wait": true, "timeout": "60s"})).await;
        assert!(!err, "up: {up}");
        assert_eq!(up["schema_version"], 1);
        let (_, status) = call(&client, "status", json!({})).await;
        assert_eq!(status["panes"].as_array().map(Vec::len), Some(9), "{status}");

        // A scratch session: its pane comes after the nine managed ones, so its id is past %9.
        let (err, made) = call(&client, "session_new", json!({"name": "scratch", "command": "sh"})).await;
        assert!(!err, "session_new: {made}");
        let (_, ls) = call(&client, "session_ls", json!({})).await;
        assert!(ls["sessions"].as_array().expect("sessions").iter().any(|s| s["name"] == "scratch"), "{ls}");

        // The command's own exit status and only its output.
        let (err, ran) = call(
            &client,
            "pane_exec",
            json!({"target": "scratch", "command": "echo out-one; echo out-two; (exit 3)", "timeout": "30s"}),
        )
        .await;
        assert!(!err, "pane_exec: {ran}");
        assert_eq!(ran["exit_status"], 3, "{ran}");
        assert_eq!(ran["output"], "out-one\nout-two\n", "{ran}");
        assert_eq!(ran["timed_out"], false);
        // An argv is quoted word by word.
        let (_, argv) =
            call(&client, "pane_exec", json!({"target": "app/sh", "command": ["printf", "%s|", "a b", "c"]})).await;
        assert_eq!(argv["exit_status"], 0, "{argv}");
        assert_eq!(argv["output"], "a b|c|", "{argv}");

        // Waits: a line already printed (since_start), and a timeout that is a result, not an error.
        let (err, waited) = call(
            &client,
            "pane_wait",
            json!({"target": "app/web", "match": "web is (\\w+)", "since_start": true, "timeout": "30s"}),
        )
        .await;
        assert!(!err, "{waited}");
        assert_eq!(waited["timed_out"], false, "{waited}");
        assert!(waited["matched"].as_str().is_some_and(|m| m.contains("web is ready")), "{waited}");
        let (err, late) =
            call(&client, "pane_wait", json!({"target": "app/web", "match": "never", "timeout": "300ms"})).await;
        assert!(!err, "{late}");
        assert_eq!(late["timed_out"], true, "{late}");

        // Capture with a cursor: the next call gets only what came after.
        let (_, cap) = call(&client, "pane_capture", json!({"target": "scratch"})).await;
        let cursor = cap["cursor"].as_str().expect("cursor").to_string();
        call(&client, "pane_exec", json!({"target": "scratch", "command": "echo after-cursor"})).await;
        let (_, next) = call(&client, "pane_capture", json!({"target": "scratch", "since": cursor})).await;
        let new = next["output"].as_str().expect("output");
        assert!(new.contains("after-cursor") && !new.contains("out-one"), "{new}");

        // Bounded: a long output keeps its end and says what it left out ...
        let (_, long) =
            call(&client, "pane_exec", json!({"target": "scratch", "command": "seq 1 20000", "timeout": "60s"})).await;
        let out = long["output"].as_str().expect("output");
        assert!(out.len() <= 16 * 1024 && out.ends_with("19999\n20000\n"), "{} bytes", out.len());
        assert!(long["truncated"].as_str().is_some_and(|t| t.contains("bytes of output are not shown")), "{long}");
        // ... and a long capture says how many bytes are left and where to go on.
        let (_, page) =
            call(&client, "pane_capture", json!({"target": "scratch", "lines": 1500, "max_bytes": 2048})).await;
        let text = page["output"].as_str().expect("output");
        assert!(text.len() <= 2048, "{} bytes", text.len());
        let note = page["truncated"].as_str().expect("truncated note");
        let cursor = page["cursor"].as_str().expect("cursor");
        assert!(note.contains("more bytes") && note.contains(&format!("since={cursor}")), "{note}");
        let last: u32 = text.lines().last().and_then(|l| l.trim().parse().ok()).expect("a number");
        let (_, more) =
            call(&client, "pane_capture", json!({"target": "scratch", "since": cursor, "max_bytes": 2048})).await;
        let first: u32 = more["output"]
            .as_str()
            .and_then(|t| t.lines().next())
            .and_then(|l| l.trim().parse().ok())
            .expect("a number");
        assert_eq!(first, last + 1, "the next page starts where the last ended");

        // Several lines of text are pasted in one go, and the shell runs them.
        let (err, pasted) = call(
            &client,
            "pane_send_keys",
            json!({"target": "scratch", "text": "echo pasted-$((1+1))\necho pasted-$((1+2))", "keys": ["Enter"]}),
        )
        .await;
        assert!(!err, "{pasted}");
        let (_, seen) = call(
            &client,
            "pane_wait",
            json!({"target": "scratch", "match": "pasted-3", "since_start": true, "timeout": "30s"}),
        )
        .await;
        assert_eq!(seen["timed_out"], false, "{seen}");

        // Idle: a command that prints for about 1.5 s, then stops; and one that never stops.
        call(
            &client,
            "pane_exec",
            json!({"target": "scratch", "command": "for i in 1 2 3; do echo tick; sleep 0.5; done", "wait": false}),
        )
        .await;
        let (err, quiet) =
            call(&client, "pane_wait", json!({"target": "scratch", "idle": "1s", "timeout": "60s"})).await;
        assert!(!err && quiet["idle"] == true && quiet["timed_out"] == false, "{quiet}");
        assert!(quiet["lines_seen"].as_u64() >= Some(1), "it saw the ticks: {quiet}");
        call(
            &client,
            "pane_exec",
            json!({"target": "scratch", "command": "while :; do echo busy; sleep 0.1; done", "wait": false}),
        )
        .await;
        let (err, busy) = call(&client, "pane_wait", json!({"target": "scratch", "idle": "3s", "timeout": "1s"})).await;
        assert!(!err && busy["idle"] == false && busy["timed_out"] == true, "{busy}");
        call(&client, "pane_send_keys", json!({"target": "scratch", "keys": ["C-c"]})).await;

        // A manifest's text is validated where it stands; problems point into it.
        let (err, bad) = call(
            &client,
            "validate",
            json!({"manifest": "version: 1\nsessions:\n  a:\n    panes:\n      p: { comand: x }\n"}),
        )
        .await;
        assert!(err, "{bad}");
        assert_eq!(bad["error"]["code"], "unknown_key", "{bad}");
        assert_eq!(bad["error"]["location"]["line"], 5, "{bad}");
        assert_eq!(bad["error"]["location"]["file"], "manifest", "{bad}");
        let (err, good) = call(&client, "validate", json!({})).await;
        assert!(!err && good["valid"] == true, "{good}");

        // Logs (the daemon's) and events, bounded and with cursors.
        // The daemon writes the log as the pane prints: poll it (tests only) for a while.
        let deadline = Instant::now() + Duration::from_secs(20);
        let (seen, logged) = loop {
            let (_, logged) = call(&client, "logs", json!({"targets": ["app/web"], "lines": 10})).await;
            let seen = logged["lines"].as_array().is_some_and(|l| l.iter().any(|l| l["line"] == "web is ready"));
            if seen || Instant::now() > deadline {
                break (seen, logged);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(seen, "logs: {logged}");
        assert!(logged["cursor"].is_string(), "{logged}");
        let (_, events) = call(&client, "events", json!({"kinds": ["pane.started"], "since_id": 0, "limit": 3})).await;
        let evs = events["events"].as_array().expect("events");
        assert_eq!(evs.len(), 3, "{events}");
        assert!(events["truncated"].as_str().is_some_and(|t| t.contains("since_id=")), "{events}");
        let (_, after) =
            call(&client, "events", json!({"kinds": ["pane.started"], "since_id": events["cursor"]})).await;
        let first_after = after["events"][0]["id"].as_i64().expect("more events");
        assert!(first_after > events["cursor"].as_i64().expect("cursor"), "{after}");

        // Errors are ctmux's error documents.
        let (err, missing) = call(&client, "pane_capture", json!({"target": "nope"})).await;
        assert!(err);
        assert_eq!(missing["error"]["code"], "not_found", "{missing}");
        let (err, bad) = call(&client, "pane_exec", json!({"target": "scratch"})).await;
        assert!(err && bad["error"]["code"] == "usage", "{bad}");

        let (err, down) = call(&client, "down", json!({})).await;
        assert!(!err, "down: {down}");
        assert!(server.panes().is_empty(), "{:?}", server.panes());
        client.cancel().await.expect("close");
    });
}

#[test]
fn mcp_waits_run_concurrently_and_a_cancelled_wait_stops_its_process() {
    let server = Server::new(MANIFEST);
    server.expect(&["up", "app", "--wait", "--timeout", "60s"], 0);
    let needle = format!("mcp-cancel-{}", std::process::id());
    runtime().block_on(async {
        let client = connect(&server, &[], &[]).await;
        // A wait with no timeout, for a line that never comes.
        let waiting = client.call_tool(CallToolRequestParams::new("pane_wait").with_arguments(
            json!({"target": "app/web", "match": needle.clone()}).as_object().cloned().expect("object"),
        ));
        let mut waiting = Box::pin(waiting);
        // While it waits, other calls are answered.
        let started = Instant::now();
        let status = tokio::select! {
            _ = &mut waiting => panic!("the wait returned"),
            s = call(&client, "status", json!({})) => s,
        };
        assert!(!status.0 && status.1["panes"].is_array(), "{status:?}");
        assert!(started.elapsed() < Duration::from_secs(30));
        assert!(eventually(Duration::from_secs(10), || processes_with(&needle) == 1), "the wait's ctmux process runs");
        // Dropping the call sends notifications/cancelled: the server stops the wait's process.
        drop(waiting);
        assert!(
            eventually(Duration::from_secs(15), || processes_with(&needle) == 0),
            "the cancelled wait's ctmux process still runs"
        );
        // The server still serves.
        let (err, _) = call(&client, "status", json!({})).await;
        assert!(!err);
        client.cancel().await.expect("close");
    });
}

#[test]
fn mcp_read_only_offers_only_reading_tools_and_kill_refuses_the_clients_own_pane() {
    let server = Server::new(MANIFEST);
    server.expect(&["up", "app", "--wait", "--timeout", "60s"], 0);
    let panes = server.panes();
    let web = panes.iter().find(|p| p.0 == "app/web").expect("app/web").1.clone();
    let info = server.tmux(&["display-message", "-p", "-t", &web, "#{socket_path},#{pid},0"]);
    runtime().block_on(async {
        let client = connect(&server, &["--read-only"], &[]).await;
        let names: Vec<String> =
            client.list_all_tools().await.expect("tools").iter().map(|t| t.name.to_string()).collect();
        for gone in ["up", "down", "pane_exec", "pane_kill", "pane_send_keys", "pane_new", "session_new"] {
            assert!(!names.iter().any(|n| n == gone), "{gone} offered read-only: {names:?}");
        }
        assert!(names.iter().any(|n| n == "status") && names.iter().any(|n| n == "pane_capture"));
        let refused = client
            .call_tool(
                CallToolRequestParams::new("pane_kill")
                    .with_arguments(json!({"target": "app/web"}).as_object().cloned().expect("object")),
            )
            .await;
        assert!(refused.is_err(), "pane_kill answered in read-only mode: {refused:?}");
        client.cancel().await.expect("close");

        // A client running in app/web's pane (as $TMUX and $TMUX_PANE say) may not kill it or
        // take the stack down under itself.
        let inside = connect(&server, &[], &[("TMUX", info.trim()), ("TMUX_PANE", &web)]).await;
        let (err, doc) = call(&inside, "pane_kill", json!({"target": "app/web"})).await;
        assert!(err && doc["error"]["code"] == "refused", "{doc}");
        let (err, doc) = call(&inside, "down", json!({})).await;
        assert!(err && doc["error"]["code"] == "refused", "{doc}");
        // validate reads manifest files only, never quoting another file.
        let (err, doc) = call(&inside, "validate", json!({"path": "/etc/shadow"})).await;
        assert!(err && doc["error"]["code"] == "usage" && !doc.to_string().contains("root:"), "{doc}");
        // Nor end it with keys (C-c), by address or by tmux id.
        for target in ["app/web", web.as_str()] {
            let (err, doc) = call(&inside, "pane_send_keys", json!({"target": target, "keys": ["C-c"]})).await;
            assert!(err && doc["error"]["code"] == "refused", "{doc}");
        }
        assert!(server.panes().iter().any(|p| p.1 == web && !p.3), "app/web was killed");
        // Another pane it may kill.
        let (err, doc) = call(&inside, "pane_kill", json!({"target": "app/sh"})).await;
        assert!(!err, "{doc}");
        inside.cancel().await.expect("close");
    });
}

#[test]
fn mcp_python_sdk_client_drives_up_exec_wait_logs_down() {
    let has_sdk = std::process::Command::new("python3")
        .args(["-c", "import mcp.client.stdio"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_sdk {
        eprintln!("skipped: Python's `mcp` package is not installed (pip install mcp)");
        return;
    }
    let server = Server::new(MANIFEST);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/integration/mcp/python_client.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_ctmux"))
        .arg(&server.name)
        .arg(server.dir.path())
        .env("CTMUX_STATE_DIR", server.state.path())
        .env("XDG_RUNTIME_DIR", server.state.path())
        .env("CTMUX_TMUX_CONF", "/dev/null")
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
        .env_remove("CTMUX_TMUX_SOCKET")
        .env("NO_COLOR", "1")
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "python client failed ({:?})\nstdout:\n{stdout}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(server.panes().is_empty(), "down left {:?}", server.panes());
}

/// A client that keeps the progress notifications it gets.
#[derive(Clone, Default)]
struct Progress(std::sync::Arc<std::sync::Mutex<Vec<rmcp::model::ProgressNotificationParam>>>);

impl rmcp::ClientHandler for Progress {
    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.0.lock().expect("lock").push(params);
    }
}

#[test]
fn mcp_up_wait_sends_progress_notifications_while_it_waits() {
    let server = Server::new(
        r#"
version: 1
name: slow
sessions:
  app:
    panes:
      web:
        command: sh -c 'sleep 3; echo now serving; exec sleep 1000'
        ready_when: now serving
"#,
    );
    runtime().block_on(async {
        let progress = Progress::default();
        let cmd = tokio::process::Command::from(server.cmd(&["mcp"]));
        let client = progress.clone().serve(TokioChildProcess::new(cmd).expect("spawn")).await.expect("handshake");
        let mut params = CallToolRequestParams::new("up")
            .with_arguments(json!({"wait": true, "timeout": "60s"}).as_object().cloned().expect("object"));
        let token = rmcp::model::ProgressToken(rmcp::model::NumberOrString::Number(7));
        let mut meta = rmcp::model::RequestMetaObject::default();
        meta.set_progress_token(token);
        params.meta = Some(meta);
        let res = tokio::time::timeout(Duration::from_secs(90), client.call_tool(params))
            .await
            .expect("up in time")
            .expect("up");
        assert_ne!(res.is_error, Some(true), "{res:?}");
        let got = progress.0.lock().expect("lock").clone();
        assert!(!got.is_empty(), "no progress notification during a 3 s up --wait");
        // (rmcp's client puts its own token on every request; all of ours carry that one.)
        assert!(got.iter().all(|p| p.progress_token == got[0].progress_token), "{got:?}");
        assert!(got.windows(2).all(|w| w[0].progress <= w[1].progress), "progress must not go back: {got:?}");
        client.cancel().await.expect("close");
    });
}

#[test]
fn mcp_values_that_begin_with_a_dash_are_values_and_an_empty_exec_is_an_error() {
    let server = Server::new(MANIFEST);
    server.expect(&["up", "app", "--wait", "--timeout", "60s"], 0);
    runtime().block_on(async {
        let client = connect(&server, &[], &[]).await;
        // `-1s` reached the CLI as a flag ("exited 2 without a JSON result"): now it is a value
        // the verb rejects with its own message.
        let (err, doc) = call(&client, "pane_wait", json!({"target": "app/web", "timeout": "-1s"})).await;
        assert!(err && !doc.to_string().contains("without a JSON result"), "{doc}");
        assert!(doc.to_string().contains("-1s"), "{doc}");
        let (err, doc) = call(&client, "pane_wait", json!({"target": "app/web", "match": "-x", "timeout": "1s"})).await;
        assert!(!doc.to_string().contains("without a JSON result"), "{err} {doc}");
        let (err, doc) = call(&client, "pane_exec", json!({"target": "app/web", "command": []})).await;
        assert!(err && doc["error"]["code"] == "usage", "{doc}");
        client.cancel().await.expect("close");
    });
}
