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
            "pane_exec_result",
            "pane_signal",
            "pane_status",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        for t in &tools {
            let ann = t.annotations.as_ref().expect("annotations");
            // Anything that can run arbitrary commands, kill processes or replace panes.
            let runs_or_kills = matches!(
                t.name.as_ref(),
                "up" | "down"
                    | "pane_exec"
                    | "pane_send_keys"
                    | "pane_signal"
                    | "pane_new"
                    | "pane_kill"
                    | "session_new"
            );
            assert_eq!(ann.destructive_hint, Some(runs_or_kills), "{}", t.name);
            assert_eq!(ann.read_only_hint, Some(!runs_or_kills), "{}", t.name);
            let idempotent = matches!(t.name.as_ref(), "up" | "down" | "status");
            if idempotent {
                assert_eq!(ann.idempotent_hint, Some(true), "{}", t.name);
            }
            if matches!(t.name.as_ref(), "pane_exec" | "pane_send_keys" | "pane_kill" | "pane_signal") {
                assert_eq!(ann.idempotent_hint, Some(false), "{}", t.name);
            }
            assert_eq!(
                ann.open_world_hint,
                Some(matches!(t.name.as_ref(), "pane_exec" | "pane_send_keys" | "pane_new" | "session_new")),
                "{}",
                t.name
            );
            assert!(t.title.as_deref().is_some_and(|x| !x.is_empty()), "{} has no title", t.name);
            let out = t.output_schema.as_ref().unwrap_or_else(|| panic!("{} has no outputSchema", t.name));
            assert_eq!(out.get("type"), Some(&json!("object")), "{}", t.name);
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

        // Bounded: a long output keeps its start, whole lines, and says where the rest is ...
        let (_, long) =
            call(&client, "pane_exec", json!({"target": "scratch", "command": "seq 1 20000", "timeout": "60s"})).await;
        let out = long["output"].as_str().expect("output");
        assert!(out.len() <= 16 * 1024 && out.starts_with("1\n2\n") && out.ends_with('\n'), "{} bytes", out.len());
        assert!(long["truncated"].as_str().is_some_and(|t| t.contains("pane_exec_result")), "{long}");
        assert!(long["exec_id"].is_string() && long["cursor"].is_string(), "{long}");
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
        // (`since_start` makes it a `ctmux pane wait` process, which the test can see.)
        let waiting = client.call_tool(
            CallToolRequestParams::new("pane_wait").with_arguments(
                json!({"target": "app/web", "match": needle.clone(), "since_start": true})
                    .as_object()
                    .cloned()
                    .expect("object"),
            ),
        );
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
        // The SDK's minimal environment keeps HOME: state of the second client goes here.
        .env("HOME", server.state.path())
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

/// A manifest of `n` managed panes, five per session (tmux ids well past %9).
fn many_panes(n: usize) -> String {
    let mut m = String::from("version: 1\nname: many\nsessions:\n");
    for s in 0..n.div_ceil(5) {
        m.push_str(&format!("  s{s:02}:\n    panes:\n"));
        for p in 0..5.min(n - s * 5) {
            m.push_str(&format!("      p{p}: sleep {}\n", 10_000 + s * 5 + p));
        }
    }
    m
}

#[test]
fn mcp_status_of_100_panes_pages_by_whole_panes_into_valid_documents() {
    let server = Server::new(&many_panes(100));
    server.expect(&["up", "--wait", "--timeout", "180s"], 0);
    runtime().block_on(async {
        let client = connect(&server, &[], &[]).await;
        // At the default 16 KB bound: every page is a valid document (call() checks the text is
        // the same JSON as structuredContent) with whole panes and a cursor to the next.
        let mut addresses = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut args = json!({});
            if let Some(c) = &cursor {
                args["cursor"] = json!(c);
            }
            let (err, page) = call(&client, "status", args).await;
            assert!(!err, "{page}");
            assert!(page.to_string().len() <= 16 * 1024, "{} bytes", page.to_string().len());
            assert_eq!(page["total"], 100, "{page}");
            for p in page["panes"].as_array().expect("panes") {
                assert!(p["tmux_id"].is_string() && p["state"] == "running", "a whole pane: {p}");
                addresses.push(p["address"].as_str().expect("address").to_string());
            }
            pages += 1;
            match page["cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert!(pages >= 2, "100 panes take more than one 16 KB page");
        let mut unique = addresses.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((addresses.len(), unique.len()), (100, 100), "every pane once: {addresses:?}");
        // A smaller bound pages the same way.
        let (_, small) = call(&client, "status", json!({"max_bytes": 4096})).await;
        assert!(small.to_string().len() <= 4096 && small["cursor"].is_string(), "{small}");
        // The compact table of 100 panes fits in 4 KB.
        let (err, table) = call(&client, "status", json!({"compact": true})).await;
        assert!(!err, "{table}");
        assert_eq!(table["rows"].as_array().map(Vec::len), Some(100), "{table}");
        assert!(table.to_string().len() <= 4096, "compact status is {} bytes", table.to_string().len());
        let (_, some) = call(&client, "status", json!({"fields": ["address", "tmux_id"]})).await;
        assert_eq!(some["panes"][0].as_object().map(|o| o.len()), Some(2), "{some}");
        let (err, bad) = call(&client, "status", json!({"cursor": "not-a-cursor"})).await;
        assert!(err && bad["error"]["code"] == "usage", "{bad}");
        client.cancel().await.expect("close");
    });
}

/// A manifest with shells and a Python REPL among eight panes (so the ids pass %9 with the
/// scratch sessions the tests add).
const SHELLS: &str = r#"
version: 1
name: shells
sessions:
  app:
    panes:
      sh: { command: [sh, -i] }
      bash: { command: [bash, --norc, --noprofile, -i] }
      py: { command: [python3, -q] }
      q: { command: [sh, -i] }
  s1: { panes: { p: sleep 1001 } }
  s2: { panes: { p: sleep 1002 } }
  s3: { panes: { p: sleep 1003 } }
  s4: { panes: { p: sleep 1004 } }
  s5: { panes: { p: sleep 1005 } }
"#;

#[test]
fn mcp_exec_output_reads_back_from_its_start_and_a_timed_out_status_is_collected_later() {
    let server = Server::new(SHELLS);
    server.expect(&["up", "--wait", "--timeout", "60s"], 0);
    runtime().block_on(async {
        let client = connect(&server, &[], &[]).await;
        // 200,000 rows: the result keeps the start, whole lines, and a cursor.
        let (err, first) =
            call(&client, "pane_exec", json!({"target": "app/sh", "command": "seq 200000", "timeout": 120})).await;
        assert!(!err, "{first}");
        assert_eq!(first["exit_status"], 0, "{first}");
        let out = first["output"].as_str().expect("output");
        assert!(out.starts_with("1\n2\n3\n") && out.ends_with('\n'), "{}", &out[..out.len().min(100)]);
        assert!(first.to_string().len() <= 16 * 1024);
        let id = first["exec_id"].as_str().expect("exec_id").to_string();
        // Read it all back through the cursor: exactly seq's output.
        let mut all = out.to_string();
        let mut cursor = first["cursor"].as_str().map(str::to_string);
        let mut pages = 1;
        while let Some(c) = cursor {
            let (err, more) = call(
                &client,
                "pane_exec_result",
                json!({"exec_id": id, "cursor": c, "max_bytes": 256 * 1024}),
            )
            .await;
            assert!(!err, "{more}");
            assert_eq!(more["exit_status"], 0);
            all.push_str(more["output"].as_str().expect("output"));
            cursor = more["cursor"].as_str().map(str::to_string);
            pages += 1;
        }
        let want: String = (1..=200_000).map(|i| format!("{i}\n")).collect();
        assert!(all == want, "reassembled {} bytes of {} over {pages} pages", all.len(), want.len());

        // A timeout returns the id; the exit status is collected later.
        let started = Instant::now();
        let (err, late) = call(
            &client,
            "pane_exec",
            json!({"target": "app/bash", "command": "echo started; sleep 3; echo slept; (exit 4)", "timeout": 1}),
        )
        .await;
        assert!(!err, "{late}");
        assert!(started.elapsed() < Duration::from_secs(3), "it returned at its timeout");
        assert_eq!((late["timed_out"].as_bool(), late["running"].as_bool()), (Some(true), Some(true)), "{late}");
        // What it printed so far comes along.
        assert_eq!((late["output"].as_str(), late["partial"].as_bool()), (Some("started\n"), Some(true)), "{late}");
        let id = late["exec_id"].as_str().expect("exec_id");
        let (err, done) = call(&client, "pane_exec_result", json!({"exec_id": id, "timeout": "20s"})).await;
        assert!(!err, "{done}");
        assert_eq!(done["exit_status"], 4, "{done}");
        assert_eq!(done["output"], "started\nslept\n", "{done}");
        assert_eq!(done["running"], false, "{done}");
        // The record is private.
        {
            use std::os::unix::fs::PermissionsExt;
            let dir = server.state.path().join("mcp-exec");
            let mode = std::fs::metadata(&dir).expect("the exec store").permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", dir.display());
            let mut files = 0;
            for e in std::fs::read_dir(&dir).expect("read").flatten() {
                let mode = e.metadata().expect("metadata").permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", e.path().display());
                files += 1;
            }
            assert!(files >= 4, "two execs' records and outputs: {files}");
        }
        // kill_on_timeout: a command that ignores SIGINT is killed, and the pane is usable again.
        let started = Instant::now();
        let (err, killed) = call(
            &client,
            "pane_exec",
            json!({"target": "app/bash", "command": "sh -c 'trap \"\" INT; sleep 31'", "timeout": 1, "kill_on_timeout": true}),
        )
        .await;
        assert!(!err && killed["timed_out"] == true, "{killed}");
        assert!(eventually(Duration::from_secs(5), || processes_with("sleep\u{0}31") == 0), "SIGINT-proof command survived");
        let (_, back) = call(&client, "pane_wait", json!({"target": "app/bash", "prompt": true, "timeout": 5})).await;
        assert_eq!(back["ready"], true, "{back}");
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        let (err, conflict) = call(
            &client,
            "pane_exec",
            json!({"target": "app/bash", "command": "true", "wait": false, "timeout": 1}),
        )
        .await;
        assert!(err && conflict["error"]["code"] == "usage", "{conflict}");
        let (err, unknown) = call(&client, "pane_exec_result", json!({"exec_id": "nope"})).await;
        assert!(err && unknown["error"]["code"] == "not_found", "{unknown}");

        // Cancelling a call interrupts its command: the pane is idle again within 2 s.
        let needle = format!("2{}", std::process::id() % 10_000);
        let running = client.call_tool(CallToolRequestParams::new("pane_exec").with_arguments(
            json!({"target": "app/q", "command": format!("sleep {needle}")}).as_object().cloned().expect("object"),
        ));
        let mut running = Box::pin(running);
        let seen = tokio::select! {
            _ = &mut running => false,
            _ = tokio::time::sleep(Duration::from_secs(30)) => false,
            _ = async { while processes_with(&format!("sleep\0{needle}")) < 1 { tokio::time::sleep(Duration::from_millis(50)).await } } => true,
        };
        assert!(seen, "the command runs in the pane");
        drop(running);
        let cancelled = Instant::now();
        assert!(
            eventually(Duration::from_secs(2), || processes_with(&format!("sleep\0{needle}")) == 0),
            "the cancelled command still runs"
        );
        let (_, idle) = call(&client, "pane_wait", json!({"target": "app/q", "prompt": true, "timeout": 2})).await;
        assert_eq!(idle["ready"], true, "{idle}");
        assert!(cancelled.elapsed() < Duration::from_secs(3), "{:?}", cancelled.elapsed());
        let (err, next) = call(&client, "pane_exec", json!({"target": "app/q", "command": "echo usable"})).await;
        assert!(!err && next["output"] == "usable\n", "{next}");
        client.cancel().await.expect("close");
    });
}

#[test]
fn exec_callers_on_one_pane_take_turns_and_never_see_pane_busy_from_an_earlier_exec() {
    let server = Server::new(SHELLS);
    server.expect(&["up", "--wait", "--timeout", "60s"], 0);
    let run = |text: &str| {
        server
            .cmd(&["--json", "pane", "exec", "app/sh", "--wait", "--timeout", "2s", "--", text])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let doc_of = |c: std::process::Child, what: &str| -> Value {
        let out = c.wait_with_output().expect("wait");
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{what}: {}", String::from_utf8_lossy(&out.stderr)));
        // Each either ran or timed out waiting its turn: never an error such as pane_busy.
        assert!(doc.get("error").is_none(), "{what}: {doc}");
        doc
    };
    // 1. 30 concurrent `pane exec --wait --timeout 2s` of short commands.
    let children: Vec<_> = (0..30).map(|i| run(&format!("sleep 0.05; echo r{i}"))).collect();
    let mut finished = 0;
    for (i, c) in children.into_iter().enumerate() {
        let doc = doc_of(c, &format!("short #{i}"));
        if doc["timed_out"] == false {
            finished += 1;
            assert_eq!(doc["output"], format!("r{i}\n"), "{doc}");
        }
    }
    eprintln!("{finished} of 30 short execs ran within their 2 s");
    // 2. An exec whose command outlives its 2 s: the next 29 wait for it (and for each other)
    //    within their own 2 s instead of answering pane_busy.
    let first = doc_of(run("sleep 3; echo late"), "first");
    assert_eq!(first["timed_out"], true, "{first}");
    assert!(processes_with("sleep\u{0}3") >= 1, "the first exec's command runs on after its timeout");
    let children: Vec<_> = (0..29).map(|i| run(&format!("echo q{i}"))).collect();
    for (i, c) in children.into_iter().enumerate() {
        let doc = doc_of(c, &format!("queued #{i}"));
        if doc["timed_out"] == false {
            assert_eq!(doc["output"], format!("q{i}\n"), "{doc}");
        }
    }
    server.expect(&["pane", "exec", "app/sh", "--wait", "--timeout", "20s", "--", "true"], 0);
    // Through MCP too: 8 concurrent calls with timeouts, none answers pane_busy.
    runtime().block_on(async {
        let client = connect(&server, &[], &[]).await;
        let calls = (0..8).map(|i| {
            let client = &client;
            async move {
                call(
                    client,
                    "pane_exec",
                    json!({"target": "app/sh", "command": format!("sleep 0.3; echo m{i}"), "timeout": 2}),
                )
                .await
            }
        });
        let results = futures_join_all(calls).await;
        for (err, doc) in results {
            assert!(!err, "{doc}");
        }
        client.cancel().await.expect("close");
    });
}

/// Runs the futures concurrently and collects their outputs in order.
async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in fs {
        set.push(Box::pin(f));
    }
    let mut out = Vec::new();
    // Poll all together: a select-free join over pinned futures.
    let mut pending: Vec<Option<std::pin::Pin<Box<F>>>> = set.into_iter().map(Some).collect();
    let mut done: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        done[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    out.extend(done.into_iter().map(|d| d.expect("done")));
    out
}

#[test]
fn mcp_a_repl_round_trip_is_one_call_and_a_sleeping_repl_is_not_ready() {
    let server = Server::new(SHELLS);
    server.expect(&["up", "--wait", "--timeout", "60s"], 0);
    runtime().block_on(async {
        let client = connect(&server, &[], &[]).await;
        let (err, ready) = call(&client, "pane_wait", json!({"target": "app/py", "prompt": true, "timeout": "10s"})).await;
        assert!(!err && ready["ready"] == true, "{ready}");
        // Text already on screen does not match: `>>> ` is there, but nothing new comes.
        let (_, old) = call(&client, "pane_wait", json!({"target": "app/py", "match": ">>> ", "timeout": 1})).await;
        assert_eq!(old["timed_out"], true, "{old}");
        // One call: type, wait for the prompt, get what it printed (not the echo).
        let (err, answer) = call(
            &client,
            "pane_send_keys",
            json!({"target": "app/py", "text": "print(6*7)\n", "wait": "prompt", "timeout": 10}),
        )
        .await;
        assert!(!err, "{answer}");
        assert_eq!(answer["ready"], true, "{answer}");
        let out = answer["output"].as_str().expect("output");
        assert!(out.contains("42") && !out.contains("print(6*7)"), "{answer}");
        // A regex wait never matches the echoed input line.
        let (_, echo) = call(
            &client,
            "pane_send_keys",
            json!({"target": "app/py", "text": "import time; time.sleep(1); print('ANS' + 'WER2')\n", "wait": "ANSWER2", "timeout": 10}),
        )
        .await;
        assert_eq!(echo["matched"], "ANSWER2", "the printed line, not the typed one: {echo}");
        // A REPL that sleeps is not waiting for input, however quiet it is.
        let (err, _) =
            call(&client, "pane_send_keys", json!({"target": "app/py", "text": "time.sleep(4); print('AWAKE')\n"})).await;
        assert!(!err);
        let started = Instant::now();
        let (_, asleep) = call(&client, "pane_wait", json!({"target": "app/py", "prompt": true, "timeout": 2})).await;
        assert_eq!((asleep["ready"].as_bool(), asleep["timed_out"].as_bool()), (Some(false), Some(true)), "{asleep}");
        assert!(started.elapsed() >= Duration::from_secs(2));
        // The typed line's echo does not satisfy a later match either; the printed line does.
        let (_, awake) = call(&client, "pane_wait", json!({"target": "app/py", "match": "AWAKE", "timeout": 10})).await;
        assert_eq!(awake["matched"], "AWAKE", "{awake}");
        let (_, back) = call(&client, "pane_wait", json!({"target": "app/py", "prompt": true, "timeout": 10})).await;
        assert_eq!(back["ready"], true, "{back}");
        // bash at its prompt, and bash running a command.
        let (_, bash) = call(&client, "pane_wait", json!({"target": "app/bash", "prompt": true, "timeout": 10})).await;
        assert_eq!(bash["ready"], true, "{bash}");
        // bash asked for bracketed paste: a pasted newline is text; Enter runs the line.
        call(&client, "pane_send_keys", json!({"target": "app/bash", "text": "sleep 2", "keys": ["Enter"]})).await;
        let (_, busy) = call(&client, "pane_wait", json!({"target": "app/bash", "prompt": true, "timeout": 1})).await;
        assert_eq!(busy["ready"], false, "{busy}");
        let (_, again) = call(&client, "pane_wait", json!({"target": "app/bash", "prompt": true, "timeout": 10})).await;
        assert_eq!(again["ready"], true, "{again}");
        // Output printed after the call starts counts, the typed line never does.
        call(
            &client,
            "pane_send_keys",
            json!({"target": "app/bash", "text": "sleep 0.3; echo QUICK-$((40+2))", "keys": ["Enter"]}),
        )
        .await;
        let (_, quick) =
            call(&client, "pane_wait", json!({"target": "app/bash", "match": "QUICK-", "timeout": 10})).await;
        assert_eq!(quick["matched"], "QUICK-42", "{quick}");
        client.cancel().await.expect("close");
    });
}

#[test]
fn mcp_errors_speak_mcp_and_durations_are_numbers_or_strings() {
    let server = Server::new(SHELLS);
    server.expect(&["up", "--wait", "--timeout", "60s"], 0);
    runtime().block_on(async {
        let client = connect(&server, &[], &[]).await;
        let (err, both) = call(&client, "pane_wait", json!({"target": "app/sh", "match": "x", "exit": true})).await;
        assert!(err && both["error"]["code"] == "usage", "{both}");
        let msg = both["error"]["message"].as_str().expect("message");
        assert!(msg.contains("`match`") && msg.contains("`exit`") && !msg.contains("--"), "{msg}");
        let (err, none) = call(&client, "pane_wait", json!({"target": "app/sh"})).await;
        assert!(err && none["error"]["code"] == "usage", "{none}");
        // Numbers are seconds; strings have units; both work, nonsense is a usage error.
        let (err, n) = call(&client, "pane_wait", json!({"target": "app/sh", "match": "never", "timeout": 0.3})).await;
        assert!(!err && n["timed_out"] == true, "{n}");
        let (err, s) = call(&client, "pane_wait", json!({"target": "app/sh", "idle": 0.2, "timeout": "5s"})).await;
        assert!(!err && s["idle"] == true, "{s}");
        let (err, bad) =
            call(&client, "pane_wait", json!({"target": "app/sh", "prompt": true, "timeout": "soon"})).await;
        assert!(err && bad["error"]["code"] == "usage", "{bad}");
        // A busy pane's hint names MCP tools and arguments, not CLI flags.
        let (err, busy) = call(&client, "pane_exec", json!({"target": "s1/p", "command": "true"})).await;
        assert!(err && busy["error"]["code"] == "pane_busy", "{busy}");
        let hint = busy["error"]["hint"].as_str().expect("hint");
        assert!(hint.contains("pane_exec_result") && hint.contains("force") && !hint.contains("--"), "{hint}");
        // pane_signal and pane_status.
        let (err, st) = call(&client, "pane_status", json!({"target": "app/sh"})).await;
        assert!(!err && st["pane"]["tmux_id"].is_string(), "{st}");
        call(&client, "pane_send_keys", json!({"target": "app/sh", "text": "sleep 30\n"})).await;
        assert!(eventually(Duration::from_secs(10), || processes_with("sleep\u{0}30") >= 1));
        let (err, sig) = call(&client, "pane_signal", json!({"target": "app/sh"})).await;
        assert!(!err, "{sig}");
        let (_, back) = call(&client, "pane_wait", json!({"target": "app/sh", "prompt": true, "timeout": 5})).await;
        assert_eq!(back["ready"], true, "{back}");
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
        let (err, doc) = call(&client, "pane_wait", json!({"target": "app/web", "exit": true, "timeout": "-1s"})).await;
        assert!(err && !doc.to_string().contains("without a JSON result"), "{doc}");
        assert!(doc.to_string().contains("-1s"), "{doc}");
        let (err, doc) = call(&client, "pane_wait", json!({"target": "app/web", "match": "-x", "timeout": "1s"})).await;
        assert!(!doc.to_string().contains("without a JSON result"), "{err} {doc}");
        let (err, doc) = call(&client, "pane_exec", json!({"target": "app/web", "command": []})).await;
        assert!(err && doc["error"]["code"] == "usage", "{doc}");
        client.cancel().await.expect("close");
    });
}
