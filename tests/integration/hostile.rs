//! Hostile input and other local users (issue 21): no secret in any process's argv, no manifest
//! that can crash tmux, bounded loading, and no file reached outside the state directory.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{Server, eventually};

/// Every process's argv on the machine, as another user's `ps -eo args` sees it.
fn all_cmdlines() -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if let Ok(bytes) = std::fs::read(e.path().join("cmdline")) {
            out.push((pid, String::from_utf8_lossy(&bytes).replace('\0', " ")));
        }
    }
    out
}

fn leaks(secrets: &[&str]) -> Vec<String> {
    all_cmdlines()
        .into_iter()
        .filter(|(_, c)| secrets.iter().any(|s| c.contains(s)))
        .map(|(pid, c)| format!("{pid}: {}", c.chars().take(300).collect::<String>()))
        .collect()
}

#[test]
fn secrets_from_env_env_file_and_interpolation_never_reach_any_argv() {
    // Markers unique to this test; each is a secret value that must stay out of argv.
    let (a, b, c) = ("Sekr1tA-7f3e", "Sekr1tB-91c2", "Sekr1tC-4d0a");
    let mut panes = String::new();
    for i in 0..10 {
        panes += &format!("      p{i}: exec sleep 1000\n");
    }
    let manifest = format!(
        "version: 1\nname: sec\nenv_file: [secrets.env]\nenv:\n  DB_PASSWORD: '{a};#{{x}} $$HOME ~''q'\n  TOKEN: ${{FROM_ENV}}\nsessions:\n  app:\n    panes:\n      show: printf '%s|%s|%s' \"$$DB_PASSWORD\" \"$$TOKEN\" \"$$FROM_FILE\" > got.txt; exec sleep 1000\n{panes}"
    );
    let s = Server::new(&manifest);
    std::fs::write(s.path("secrets.env"), format!("FROM_FILE={c}\n")).unwrap();
    // Watch every process's argv while `up` runs (tmux clients are short-lived).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        let secrets = [a.to_string(), b.to_string(), c.to_string()];
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut scans = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
                seen.extend(leaks(&refs));
                scans += 1;
            }
            (seen, scans)
        })
    };
    let out = s.cmd(&["up"]).env("FROM_ENV", b).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        eventually(Duration::from_secs(20), || std::fs::read_to_string(s.path("got.txt")).is_ok_and(|t| t.len() > 20))
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (seen, scans) = watcher.join().unwrap();
    assert!(scans > 3, "the watcher scanned only {scans} times");
    assert!(seen.is_empty(), "secrets in argv during up: {seen:#?}");
    // The panes got them, special characters and all, through the private channel.
    let got = std::fs::read_to_string(s.path("got.txt")).unwrap();
    assert_eq!(got, format!("{a};#{{x}} $HOME ~'q|{b}|{c}"));
    // After up: the server (started by the first client), the daemon and its clients.
    let server_pid = s.tmux(&["display-message", "-p", "#{pid}"]).trim().parse::<u32>().unwrap();
    let server_argv = all_cmdlines().into_iter().find(|(p, _)| *p == server_pid).unwrap().1;
    assert!(server_argv.contains("start-server ; source-file"), "{server_argv}");
    assert_eq!(leaks(&[a, b, c]), Vec::<String>::new());
    // status and pane ls show the manifest's text, not expanded values.
    let mut with_token = manifest.clone();
    with_token.push_str("      tok: echo ${FROM_ENV} >/dev/null; exec sleep 1000\n");
    s.write(&with_token);
    let out = s.cmd(&["up"]).env("FROM_ENV", b).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status = String::from_utf8(s.cmd(&["status", "--json"]).env("FROM_ENV", b).output().unwrap().stdout).unwrap();
    assert!(status.contains("echo ${FROM_ENV}"), "{status}");
    let ls = String::from_utf8(s.cmd(&["pane", "ls", "--json"]).env("FROM_ENV", b).output().unwrap().stdout).unwrap();
    assert!(ls.contains("echo ${FROM_ENV}"), "{ls}");
    for text in [&status, &ls] {
        assert!(![a, b, c].iter().any(|x| text.contains(x)), "a secret in {text}");
    }
    assert_eq!(leaks(&[a, b, c]), Vec::<String>::new());
    s.expect(&["down"], 0);
}

#[test]
fn layouts_tmux_could_crash_on_are_refused_before_any_tmux_call() {
    for bad in ["tiled x", "tiledd", "main-vertical ", "foo", "b8be,194x33,0,0,0", "0000,80x24,0,0{40x24,0,0,1"] {
        let manifest = format!(
            "version: 1\nname: lay\nsessions:\n  s:\n    layout: \"{bad}\"\n    panes:\n      a: exec sleep 1000\n      b: exec sleep 1000\n"
        );
        let s = Server::new(&manifest);
        let out = s.ctmux(&["validate"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
        assert!(err.contains("layout") && err.contains("ctmux.yaml:5"), "{bad:?}: {err}");
        let out = s.ctmux(&["up"]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        // Nothing was sent: no server was even started.
        let ls = std::process::Command::new("tmux").args(["-L", &s.name, "ls"]).output().unwrap();
        assert!(!ls.status.success(), "{bad:?}: a tmux server runs");
    }
    // A layout string with fewer cells than the window has panes.
    let s = Server::new(
        "version: 1\nname: lay\nsessions:\n  s:\n    layout: \"b8bd,194x33,0,0,0\"\n    panes:\n      a: exec sleep 1000\n      b: exec sleep 1000\n",
    );
    let err = String::from_utf8(s.ctmux(&["validate"]).stderr).unwrap();
    assert!(err.contains("has 1 pane(s)"), "{err}");
    // A string tmux printed itself, and every preset name, work.
    let s = Server::new(
        "version: 1\nname: lay\nsessions:\n  s:\n    layout: \"020a,80x24,0,0{40x24,0,0,1,39x24,41,0,2}\"\n    panes:\n      a: exec sleep 1000\n      b: exec sleep 1000\n  t:\n    layout: main-vertical\n    panes:\n      a: exec sleep 1000\n      b: exec sleep 1000\n",
    );
    s.expect(&["up", "--no-daemon"], 0);
    let widths = s.tmux(&["list-panes", "-t", "=s:", "-F", "#{pane_width}"]);
    assert_eq!(widths.lines().collect::<Vec<_>>(), ["40", "39"], "{widths}");
    // `session new --layout` is checked too.
    let out = s.ctmux(&["session", "new", "x", "--layout", "tiled x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(s.tmux(&["ls", "-F", "#{session_name}"]).lines().all(|l| l != "x"));
}

#[test]
fn a_fifo_as_env_file_fails_at_once_and_huge_regexes_are_refused_at_the_key() {
    let s = Server::new(
        "version: 1\nname: fifo\nenv_file: [pipe]\nsessions:\n  s:\n    panes:\n      a: exec sleep 1000\n",
    );
    let fifo = std::ffi::CString::new(s.path("pipe").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    for verb in [&["validate"][..], &["config"], &["plan"]] {
        let start = Instant::now();
        let mut child =
            s.cmd(verb).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let done = eventually(Duration::from_secs(10), || child.try_wait().unwrap().is_some());
        if !done {
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        assert!(done, "{verb:?} hung on a FIFO");
        assert_eq!(out.status.code(), Some(2), "{verb:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a regular file"), "{verb:?}: {err}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
    for (pattern, says) in [("x".repeat(20_000), "at most"), (r"(\w{100}){100}".to_string(), "exceed")] {
        s.write(&format!(
            "version: 1\nname: re\nsessions:\n  s:\n    panes:\n      a:\n        command: exec sleep 1000\n        ready_when: '{pattern}'\n"
        ));
        let start = Instant::now();
        let out = s.ctmux(&["validate"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says) && err.contains("ctmux.yaml:8"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    }
}

#[test]
fn a_long_command_is_sent_whole_and_one_too_long_for_exec_is_refused() {
    // 100 KB: over tmux's 16 KiB message limit (argv clients said "command too long").
    let filler = "x".repeat(100_000);
    let s = Server::new(&format!(
        "version: 1\nname: long\nsessions:\n  s:\n    panes:\n      a: \": {filler}; echo long-ok > done.txt; exec sleep 1000\"\n"
    ));
    s.expect(&["up", "--no-daemon"], 0);
    assert!(eventually(Duration::from_secs(10), || std::fs::read_to_string(s.path("done.txt")).is_ok()));
    s.expect(&["down"], 0);
    let filler = "x".repeat(200_000);
    s.write(&format!("version: 1\nname: long\nsessions:\n  s:\n    panes:\n      a: \": {filler}\"\n"));
    let err = String::from_utf8(s.ctmux(&["validate"]).stderr).unwrap();
    assert!(err.contains("128 KiB"), "{err}");
}

fn seed_victim(victim: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for rel in ["old.log", "web.log", "sym/app/old.log", "sym/app/web.log", "x/sym/app/old.log", "p.yaml"] {
        let path = victim.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "victim\n").unwrap();
        assert!(std::process::Command::new("touch").args(["-d", "30 days ago"]).arg(&path).status().unwrap().success());
        files.push(path);
    }
    files
}

fn victim_untouched(victim: &Path, files: &[std::path::PathBuf]) {
    for f in files {
        assert_eq!(std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display())), Ok("victim\n".to_string()));
    }
    let count = walkdir(victim);
    assert_eq!(count, files.len(), "files appeared in the victim directory");
}

fn walkdir(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| if e.file_type().unwrap().is_dir() { walkdir(&e.path()) } else { 1 })
        .sum()
}

#[test]
fn planted_directory_symlinks_in_the_state_dir_are_never_followed_by_gc_or_logging() {
    let manifest = "version: 1\nname: sym\ngc: { logs: { max_age: 1d, max_size: 1KiB } }\nsessions:\n  app:\n    panes:\n      web: for i in $$(seq 1 2000); do echo line $$i; done; exec sleep 1000\n";
    // 1. A session directory that links out: logs/<server>/sym/app -> victim.
    let s = Server::new(manifest);
    let victim = tempfile::tempdir().unwrap();
    let files = seed_victim(victim.path());
    std::fs::create_dir_all(s.logs().join("sym")).unwrap();
    std::os::unix::fs::symlink(victim.path(), s.logs().join("sym/app")).unwrap();
    s.expect(&["up"], 0);
    std::thread::sleep(Duration::from_secs(3));
    s.expect(&["gc"], 0);
    victim_untouched(victim.path(), &files);
    s.expect(&["down"], 0);
    // 2. The whole logs directory links out.
    let s = Server::new(manifest);
    let victim = tempfile::tempdir().unwrap();
    let files = seed_victim(victim.path());
    std::os::unix::fs::symlink(victim.path(), s.state.path().join("logs")).unwrap();
    s.expect(&["up"], 0);
    std::thread::sleep(Duration::from_secs(3));
    let _ = s.ctmux(&["gc"]);
    let _ = s.ctmux(&["logs", "web"]);
    victim_untouched(victim.path(), &files);
    s.expect(&["down"], 0);
}

#[test]
fn a_state_dir_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let s = Server::new("version: 1\nname: open\nsessions:\n  app:\n    panes:\n      a: exec sleep 1000\n");
    std::fs::set_permissions(s.state.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = s.ctmux(&["up", "--no-daemon"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("writable"), "{err}");
    std::fs::set_permissions(s.state.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn imports_with_bad_content_are_the_users_errors_and_socket_names_stay_names() {
    let s = Server::new("version: 1\nname: unused\nsessions:\n  s:\n    panes:\n      a: exec sleep 1000\n");
    std::fs::write(
        s.path("tmuxp.yaml"),
        "session_name: t\nwindows:\n  - window_name: w\n    layout: tiled x\n    environment:\n      \"A B\": v\n    panes:\n      - echo hi\n",
    )
    .unwrap();
    let out = s.ctmux(&["import", "tmuxp", "tmuxp.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("ctmux bug"), "{err}");
    assert!(err.contains("unknown layout `tiled x`") && err.contains("`A B` is not a valid"), "{err}");
    assert!(err.contains("tmuxp.yaml → ctmux.yaml:9:"), "{err}");
    // process-compose: `=v` and `A B=1` environment entries and a dependency cycle are the
    // file's problems, each with its place in the translated manifest.
    std::fs::write(
        s.path("pc.yaml"),
        "version: \"0.5\"\nprocesses:\n  a:\n    command: echo a\n    environment:\n      - \"=v\"\n      - \"A B=1\"\n    depends_on:\n      b:\n        condition: process_started\n  b:\n    command: echo b\n    depends_on:\n      a:\n        condition: process_started\n",
    )
    .unwrap();
    let out = s.ctmux(&["import", "process-compose", "pc.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("ctmux bug"), "{err}");
    for want in ["`` is not a valid environment variable name", "`A B` is not a valid", "dependency cycle"] {
        assert!(err.contains(want), "{want}: {err}");
    }
    assert!(err.matches("pc.yaml → ctmux.yaml:").count() >= 3, "{err}");
    assert!(!s.path("ctmux.yml").exists());
    std::fs::write(s.path("tmx.yml"), "name: t\nsocket_name: ../../tmp/x\nwindows:\n  - w: echo hi\n").unwrap();
    let yaml = s.expect(&["import", "tmuxinator", "tmx.yml"], 0);
    assert!(yaml.contains("socket: .._.._tmp_x"), "{yaml}");
    // And a manifest naming a path as its socket is refused at the key.
    s.write("version: 1\nname: p\nsocket: ../../tmp/x\nsessions:\n  s:\n    panes:\n      a: exec sleep 1000\n");
    let err = String::from_utf8(s.ctmux(&["validate"]).stderr).unwrap();
    assert!(err.contains("invalid socket name") && err.contains("ctmux.yaml:3"), "{err}");
}

/// `ctmux mcp` spoken to line by line, as a hostile client would: raw JSON-RPC over its stdio.
struct RawMcp {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl RawMcp {
    fn spawn(s: &Server, args: &[&str], env: &[(&str, &str)]) -> RawMcp {
        let mut all = vec!["mcp"];
        all.extend_from_slice(args);
        let mut cmd = s.cmd(&all);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn ctmux mcp");
        let stdin = child.stdin.take().expect("stdin");
        let lines = crate::harness::lines_of(&mut child);
        RawMcp { child, stdin, lines }
    }

    fn send(&mut self, line: &str) {
        use std::io::Write;
        writeln!(self.stdin, "{line}").expect("write to ctmux mcp");
        self.stdin.flush().expect("flush");
    }

    /// The next message the server sends (notifications skipped).
    fn next(&mut self) -> serde_json::Value {
        loop {
            let line = self.lines.recv_timeout(Duration::from_secs(60)).expect("an answer within 60 s");
            let v: serde_json::Value = serde_json::from_str(&line).expect("the server sends JSON lines");
            if v.get("id").is_some() || v.get("error").is_some() {
                return v;
            }
        }
    }

    /// Sends a request and returns the answer with its id.
    fn request(&mut self, id: u64, method: &str, params: Option<serde_json::Value>) -> serde_json::Value {
        let mut msg = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method});
        if let Some(p) = params {
            msg["params"] = p;
        }
        self.send(&msg.to_string());
        loop {
            let v = self.next();
            if v["id"] == id {
                return v;
            }
        }
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    fn initialize(&mut self, id: u64) {
        let init = serde_json::json!({"protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}});
        let v = self.request(id, "initialize", Some(init));
        assert!(v["result"]["serverInfo"]["name"] == "ctmux", "{v}");
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    }

    /// `tools/call`: (isError, structured document).
    fn call(&mut self, id: u64, name: &str, args: serde_json::Value) -> (bool, serde_json::Value) {
        let v = self.request(id, "tools/call", Some(serde_json::json!({"name": name, "arguments": args})));
        let r = &v["result"];
        assert!(r.is_object(), "{name}: no result: {v}");
        (r["isError"] == true, r["structuredContent"].clone())
    }
}

impl Drop for RawMcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_mcp_server_answers_malformed_json_rpc_and_stays() {
    let s = Server::new("version: 1\nname: raw\nsessions:\n  s:\n    panes:\n      a: exec sleep 1000\n");
    let mut m = RawMcp::spawn(&s, &[], &[]);
    // A protocolVersion that is not a version string is answered (an error naming the field),
    // and the server stays for a proper handshake.
    for (id, bad) in [(1, serde_json::json!(123)), (2, serde_json::Value::Null)] {
        let params = serde_json::json!({"protocolVersion": bad, "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}});
        let v = m.request(id, "initialize", Some(params));
        assert_eq!(v["error"]["code"], -32602, "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains("protocolVersion") && !msg.contains("_meta"), "{v}");
        assert!(m.alive(), "the server exited after initialize with protocolVersion {bad}");
    }
    // Lines that are not JSON get a parse error (id null), before and after the handshake.
    m.send("this is not json");
    let v = m.next();
    assert!(v["error"]["code"] == -32700 && v["id"].is_null(), "{v}");
    m.initialize(3);
    m.send(r#"{"jsonrpc":"2.0","id":4,"method":"tools/ca"#);
    let v = m.next();
    assert!(v["error"]["code"] == -32700 && v["id"].is_null(), "{v}");
    // tools/call without params, or with a name that is not a string: invalid params, its id.
    let v = m.request(5, "tools/call", None);
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("params"), "{v}");
    let v = m.request(6, "tools/call", Some(serde_json::json!({"name": 5})));
    assert_eq!(v["error"]["code"], -32602, "{v}");
    // And it still works.
    let v = m.request(7, "tools/list", None);
    assert!(v["result"]["tools"].as_array().is_some_and(|t| !t.is_empty()), "{v}");
    let (err, doc) = m.call(8, "status", serde_json::json!({}));
    assert!(!err, "{doc}");
    assert!(m.alive());
}

#[test]
fn a_hostile_mcp_client_cannot_end_the_servers_pane_read_other_files_or_pass_flags() {
    let s = Server::new(
        "version: 1\nname: raw\nsessions:\n  app:\n    panes:\n      web: exec sleep 1000\n      sh: { command: [sh, -i] }\n",
    );
    s.expect(&["up", "--wait", "--timeout", "60s"], 0);
    let panes = s.panes();
    let web = panes.iter().find(|p| p.0 == "app/web").expect("app/web").1.clone();
    let info = s.tmux(&["display-message", "-p", "-t", &web, "#{socket_path},#{pid},0"]);
    // A .yaml name that links to a file that is not a manifest.
    let secret = s.path("secret.txt");
    std::fs::write(&secret, "root:SECRETHASH:20228:0:99999:7:::\n").unwrap();
    std::os::unix::fs::symlink(&secret, s.path("link.yaml")).unwrap();
    let link = s.path("link.yaml");
    for read_only in [false, true] {
        let args: &[&str] = if read_only { &["--read-only"] } else { &[] };
        let mut m = RawMcp::spawn(&s, args, &[("TMUX", info.trim()), ("TMUX_PANE", &web)]);
        m.initialize(1);
        for (id, path) in [(2, "/etc/shadow"), (3, secret.to_str().unwrap()), (4, link.to_str().unwrap())] {
            let (err, doc) = m.call(id, "validate", serde_json::json!({"path": path}));
            assert!(err && doc["error"]["code"] == "usage", "{path}: {doc}");
            assert!(!doc.to_string().contains("SECRETHASH") && !doc.to_string().contains("root:"), "{doc}");
        }
        if read_only {
            continue;
        }
        // Keys, signals, a kill or an exec into the server's own pane are refused.
        for (id, tool, args) in [
            (10, "pane_send_keys", serde_json::json!({"target": "app/web", "keys": ["C-c"]})),
            (11, "pane_send_keys", serde_json::json!({"target": web, "text": "exit\n"})),
            (12, "pane_signal", serde_json::json!({"target": web, "signal": "SIGKILL"})),
            (13, "pane_kill", serde_json::json!({"target": "app/web"})),
            (14, "pane_exec", serde_json::json!({"target": "app/web", "command": "exit"})),
        ] {
            let (err, doc) = m.call(id, tool, args);
            assert!(err && doc["error"]["code"] == "refused", "{tool}: {doc}");
        }
        assert!(s.panes().iter().any(|p| p.1 == web && !p.3), "app/web was ended");
        // Values that begin with `-` are values: clear errors, never "exited 2 without a JSON result".
        for (id, tool, args) in [
            (20, "pane_wait", serde_json::json!({"target": "app/sh", "exit": true, "timeout": "-1s"})),
            (21, "session_new", serde_json::json!({"name": "-t"})),
            (22, "pane_new", serde_json::json!({"session": "-t"})),
            (23, "pane_status", serde_json::json!({"target": "-t"})),
            (24, "logs", serde_json::json!({"targets": ["-t"]})),
            (25, "pane_exec", serde_json::json!({"target": "-t", "command": "true"})),
        ] {
            let (err, doc) = m.call(id, tool, args.clone());
            let text = doc.to_string();
            assert!(err && !text.contains("without a JSON result"), "{tool} {args}: {doc}");
            assert!(doc["error"]["message"].as_str().is_some_and(|t| t.contains("-t") || t.contains("-1s")), "{doc}");
        }
        let (err, doc) =
            m.call(30, "pane_wait", serde_json::json!({"target": "app/sh", "match": "-x", "timeout": "1s"}));
        assert!(!text_has(&doc, "without a JSON result"), "{err} {doc}");
        let (err, doc) = m.call(31, "pane_exec", serde_json::json!({"target": "app/sh", "command": []}));
        assert!(err && doc["error"]["code"] == "usage", "{doc}");
        assert!(m.alive());
    }
    assert!(!s.tmux(&["list-sessions", "-F", "#{session_name}"]).lines().any(|l| l == "-t"));
}

fn text_has(doc: &serde_json::Value, needle: &str) -> bool {
    doc.to_string().contains(needle)
}

/// What pane `id` shows, as one string.
fn screen(s: &Server, id: &str) -> String {
    s.tmux(&["capture-pane", "-p", "-J", "-t", id])
}

#[test]
fn keys_that_begin_with_a_dash_are_keys_never_send_keys_options() {
    // 11 panes, so the target's id is past %9; each runs `cat`, so what is typed shows.
    let mut manifest = "version: 1\nname: keys\nsessions:\n  app:\n    panes:\n      web: exec cat\n".to_string();
    for i in 0..10 {
        manifest += &format!("      p{i}: exec cat\n");
    }
    let s = Server::new(&manifest);
    s.expect(&["up", "--wait", "--timeout", "60s"], 0);
    let panes = s.panes();
    let id = |a: &str| panes.iter().find(|p| p.0 == a).unwrap_or_else(|| panic!("{a}: {panes:?}")).1.clone();
    let (web, p9, p8) = (id("app/web"), id("app/p9"), id("app/p8"));
    assert!(p9.trim_start_matches('%').parse::<u32>().unwrap() > 9, "{p9}");
    let info = s.tmux(&["display-message", "-p", "-t", &web, "#{socket_path},#{pid},0"]);
    // The MCP server runs in app/web: `-t <its pane>` inside `keys` must not reach it.
    let mut m = RawMcp::spawn(&s, &[], &[("TMUX", info.trim()), ("TMUX_PANE", &web)]);
    m.initialize(1);
    let (err, doc) =
        m.call(2, "pane_send_keys", serde_json::json!({"target": "app/p9", "keys": ["-t", web, "-l", "MCPMARK"]}));
    assert!(!err, "{doc}");
    assert_eq!(doc["tmux_id"], p9.as_str(), "{doc}");
    // -N (repeat), -R (reset), -X (copy-mode command) are keys too: typed as text.
    let (err, doc) = m.call(3, "pane_send_keys", serde_json::json!({"target": "app/p9", "keys": ["-N", "3", "Z"]}));
    assert!(!err, "{doc}");
    let (err, doc) = m.call(4, "pane_send_keys", serde_json::json!({"target": "app/p9", "keys": ["-X", "-R"]}));
    assert!(!err, "{doc}");
    assert!(
        eventually(Duration::from_secs(10), || screen(&s, &p9).contains(&format!("-t{web}-lMCPMARK-N3Z-X-R"))),
        "app/p9 shows {:?}",
        screen(&s, &p9)
    );
    assert!(!screen(&s, &web).contains("MCPMARK"), "typed into the MCP server's pane: {:?}", screen(&s, &web));
    assert!(s.panes().iter().any(|p| p.1 == web && !p.3), "app/web was ended");
    // The CLI: `--` then `-t OTHER -l TEXT` goes to the named pane, as keys.
    let out = s.expect(&["pane", "send-keys", "app/p8", "--", "-t", &web, "-l", "CLIMARK"], 0);
    assert!(out.contains(&format!("sent to {p8}")), "{out}");
    assert!(
        eventually(Duration::from_secs(10), || screen(&s, &p8).contains(&format!("-t{web}-lCLIMARK"))),
        "app/p8 shows {:?}",
        screen(&s, &p8)
    );
    assert!(!screen(&s, &web).contains("CLIMARK"), "typed into another pane: {:?}", screen(&s, &web));
    // With --literal the words are text as well.
    s.expect(&["pane", "send-keys", "app/p8", "--literal", "--", "-X", "cancel"], 0);
    assert!(eventually(Duration::from_secs(10), || screen(&s, &p8).contains("-Xcancel")), "{:?}", screen(&s, &p8));
    assert!(m.alive());
    s.expect(&["down"], 0);
}

#[test]
fn an_mcp_validate_reads_only_manifests_beside_its_manifest_and_no_error_quotes_an_env_file() {
    let s = Server::new("version: 1\nname: conf\nsessions:\n  app:\n    panes:\n      a: exec sleep 1000\n");
    let victim = tempfile::tempdir().unwrap();
    let shadow = victim.path().join("shadow");
    std::fs::write(&shadow, "root:SECRETHASH:20228:0:99999:7:::\ndaemon:SECRETHASH2:1:0:9:7:::\n").unwrap();
    let shadow = shadow.to_str().unwrap().to_string();
    let head = "version: 1\nname: conf\n";
    let panes = "sessions:\n  app:\n    panes:\n      a: exec sleep 1000\n";
    std::fs::write(s.path("inc.yaml"), format!("{head}include: [{shadow}]\n{panes}")).unwrap();
    std::fs::write(s.path("envf.yaml"), format!("{head}env_file: {shadow}\n{panes}")).unwrap();
    std::fs::write(s.path("local.env"), "OK=1\nSECRETLINE-abc def ghi\n").unwrap();
    std::fs::write(s.path("local.yaml"), format!("{head}env_file: local.env\n{panes}")).unwrap();
    std::fs::write(s.path("incenv.yaml"), format!("{head}include: [local.env]\n{panes}")).unwrap();
    std::fs::hard_link(victim.path().join("shadow"), s.path("hl.yaml")).unwrap();
    let secret = |t: &str| t.contains("SECRET") || t.contains("root:");
    for read_only in [false, true] {
        let args: &[&str] = if read_only { &["--read-only"] } else { &[] };
        let mut m = RawMcp::spawn(&s, args, &[]);
        m.initialize(1);
        for (id, file) in [(2, "inc.yaml"), (3, "envf.yaml"), (4, "local.yaml"), (5, "incenv.yaml"), (6, "hl.yaml")] {
            let path = s.path(file);
            let (err, doc) = m.call(id, "validate", serde_json::json!({"path": path}));
            assert!(err, "{file}: {doc}");
            assert!(!secret(&doc.to_string()), "{file} quoted another file: {doc}");
        }
        // The same through manifest text (it is validated in a scratch directory).
        let (err, doc) =
            m.call(7, "validate", serde_json::json!({"manifest": format!("{head}include: [{shadow}]\n{panes}")}));
        assert!(err && !secret(&doc.to_string()), "{doc}");
        let (err, doc) =
            m.call(8, "validate", serde_json::json!({"manifest": format!("{head}env_file: {shadow}\n{panes}")}));
        assert!(err && !secret(&doc.to_string()), "{doc}");
        assert!(doc.to_string().contains("outside the manifest's directory"), "{doc}");
        assert!(m.alive());
    }
    // The CLI names the env file's bad line by number, never by content.
    let out = s.ctmux(&["-f", s.path("local.yaml").to_str().unwrap(), "validate"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("line 2") && !secret(&err), "{err}");
    let out = s.ctmux(&["-f", s.path("envf.yaml").to_str().unwrap(), "validate"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !secret(&err), "{err}");
}

#[test]
fn an_mcp_signal_that_looks_like_an_option_is_a_usage_error_and_signals_nothing() {
    let s = Server::new("version: 1\nname: sig\nsessions:\n  app:\n    panes:\n      a: exec sleep 1000\n");
    s.expect(&["up", "--wait", "--timeout", "60s"], 0);
    let mut m = RawMcp::spawn(&s, &[], &[]);
    m.initialize(1);
    for (id, bad) in [(2, "-9"), (3, "--help"), (4, "-Lother"), (5, "--json"), (6, "SIGNOPE")] {
        let (err, doc) = m.call(id, "pane_signal", serde_json::json!({"target": "app/a", "signal": bad}));
        assert!(err && doc["error"]["code"] == "usage", "{bad}: {doc}");
        assert!(doc["error"]["message"].as_str().is_some_and(|t| t.contains(bad)), "{bad}: {doc}");
        assert!(!text_has(&doc, "without a JSON result"), "{bad}: {doc}");
    }
    assert!(s.panes().iter().any(|p| p.0 == "app/a" && !p.3), "app/a was signalled");
    // A good name still works, as a value after the target.
    let (err, doc) = m.call(7, "pane_signal", serde_json::json!({"target": "app/a", "signal": "kill"}));
    assert!(!err, "{doc}");
    assert!(eventually(Duration::from_secs(10), || s.panes().iter().any(|p| p.0 == "app/a" && p.3)), "{:?}", s.panes());
    assert!(m.alive());
    s.expect(&["down"], 0);
}

#[test]
fn a_planted_session_log_link_is_neither_read_by_logs_nor_passed_over_in_silence() {
    let manifest = "version: 1\nname: sym\nsessions:\n  app:\n    panes:\n      web: echo hello; exec sleep 1000\n      api: echo hi; exec sleep 1000\n";
    let s = Server::new(manifest);
    let victim = tempfile::tempdir().unwrap();
    std::fs::write(victim.path().join("web.log"), "1700000000000\tVICTIM-CONTENT\n").unwrap();
    std::fs::create_dir_all(s.logs().join("sym")).unwrap();
    std::os::unix::fs::symlink(victim.path(), s.logs().join("sym/app")).unwrap();
    s.expect(&["up", "--wait", "--timeout", "60s"], 0);
    let out = s.ctmux(&["logs", "web"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("VICTIM") && !stderr.contains("VICTIM"), "read through the link: {stdout} {stderr}");
    assert!(stderr.contains("not reading"), "the refusal is not said: {stderr}");
    // The daemon says it once per pane log, in its log and as an event.
    let said = || {
        let events = s.expect(&["events", "--json", "--kind", "log.refused"], 0);
        events.matches("\"log.refused\"").count()
    };
    assert!(eventually(Duration::from_secs(20), || said() == 2), "{}", s.expect(&["daemon", "logs"], 0));
    let daemon_log = s.expect(&["daemon", "logs"], 0);
    assert_eq!(daemon_log.matches("not logging").count(), 2, "{daemon_log}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(said(), 2);
    assert_eq!(std::fs::read_to_string(victim.path().join("web.log")).unwrap(), "1700000000000\tVICTIM-CONTENT\n");
    assert_eq!(walkdir(victim.path()), 1, "files appeared in the victim directory");
    s.expect(&["down"], 0);
}

#[test]
fn a_planted_mcp_exec_link_makes_pane_exec_fail_at_once_naming_it() {
    let s = Server::new("version: 1\nname: ex\nsessions:\n  app:\n    panes:\n      sh: { command: [sh, -i] }\n");
    s.expect(&["up", "--wait", "--timeout", "60s"], 0);
    let victim = tempfile::tempdir().unwrap();
    std::fs::write(victim.path().join("keep.json"), "victim\n").unwrap();
    std::os::unix::fs::symlink(victim.path(), s.state.path().join("mcp-exec")).unwrap();
    let mut m = RawMcp::spawn(&s, &[], &[]);
    m.initialize(1);
    let started = Instant::now();
    let (err, doc) =
        m.call(2, "pane_exec", serde_json::json!({"target": "app/sh", "command": "echo hi", "timeout": 20}));
    let took = started.elapsed();
    assert!(err && doc["error"]["code"] == "failed", "{doc}");
    assert!(text_has(&doc, "mcp-exec") && text_has(&doc, "symlink"), "{doc}");
    assert!(took < Duration::from_secs(5), "took {took:?}: {doc}");
    assert_eq!(walkdir(victim.path()), 1, "files appeared in the victim directory");
    assert!(m.alive());
    // Planted while a server runs (it checked a real directory when it started): refused too.
    std::fs::remove_file(s.state.path().join("mcp-exec")).unwrap();
    let mut m = RawMcp::spawn(&s, &[], &[]);
    m.initialize(1);
    let (err, doc) =
        m.call(3, "pane_exec", serde_json::json!({"target": "app/sh", "command": "echo one", "timeout": 20}));
    assert!(!err, "a real directory works: {doc}");
    std::fs::rename(s.state.path().join("mcp-exec"), s.state.path().join("mcp-exec.orig")).unwrap();
    std::os::unix::fs::symlink(victim.path(), s.state.path().join("mcp-exec")).unwrap();
    let (err, doc) =
        m.call(4, "pane_exec", serde_json::json!({"target": "app/sh", "command": "echo two", "timeout": 20}));
    assert!(err && text_has(&doc, "mcp-exec") && text_has(&doc, "replaced"), "{doc}");
    assert_eq!(walkdir(victim.path()), 1, "files appeared in the victim directory");
    s.expect(&["down"], 0);
}

#[test]
fn validate_counts_mere_warnings_as_warnings_and_never_says_nothing_was_applied() {
    let s = Server::new(
        "version: 1\nname: warn\nsessions:\n  app:\n    panes:\n      a: echo ${UNSET_ONE_X}; exec sleep 1000\n      b: echo ${UNSET_TWO_X}; exec sleep 1000\n",
    );
    let out = s.cmd(&["validate"]).env_remove("UNSET_ONE_X").env_remove("UNSET_TWO_X").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("2 warnings in"), "{err}");
    assert!(!err.contains("nothing was applied") && !err.contains("problems in"), "{err}");
    // Real problems still say so.
    s.write("version: 1\nname: warn\nbogus: 1\nsessions:\n  app:\n    panes:\n      a: ${UNSET_ONE_X}\n    nope: 2\n");
    let out = s.cmd(&["validate"]).env_remove("UNSET_ONE_X").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("problems in") && err.contains("nothing was applied"), "{err}");
}

#[test]
fn errors_never_show_an_interpolated_value() {
    let s = Server::new(
        "version: 1\nname: redact\nenv_file: [sec.env]\nsessions:\n  app:\n    windows:\n      w:\n        layout: ${LAYOUT_SECRET}\n        panes:\n          a: { command: exec sleep 1000, limits: { memory: \"1${UNIT_SECRET}\" } }\n          b: { command: exec sleep 1000, restart: $OTHER_SECRET }\n      v:\n        layout: \"${QUOTE_SECRET}\"\n        panes:\n          c: { command: exec sleep 1000, stop: { timeout: \"5${UNIT_SECRET}\" } }\n      u:\n        layout: \"${LINES_SECRET}\"\n        panes:\n          d: exec sleep 1000\n",
    );
    std::fs::write(
        s.path("sec.env"),
        "LAYOUT_SECRET=s3cretLayoutValue\nUNIT_SECRET=UNITSECRETx7\nQUOTE_SECRET=\"quo\\\"teSECRET8\"\nLINES_SECRET=\"nlA\\nnlSECRET9\"\n",
    )
    .unwrap();
    let out = s.cmd(&["validate"]).env("OTHER_SECRET", "envS3cretValue").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    // Not the value, not as a message escapes it, not a piece a parser quotes (`unknown unit`).
    for secret in ["s3cretLayoutValue", "envS3cretValue", "UNITSECRET", "teSECRET8", "nlSECRET9"] {
        assert!(!err.contains(secret), "{secret} is quoted: {err}");
    }
    assert!(err.contains("is not a valid value here (its interpolated value is not shown)"), "{err}");
    assert!(err.contains("${LAYOUT_SECRET}") && err.contains("$OTHER_SECRET"), "{err}");
    let mut m = RawMcp::spawn(&s, &["--read-only"], &[("OTHER_SECRET", "envS3cretValue")]);
    m.initialize(1);
    let (err, doc) = m.call(2, "validate", serde_json::json!({"path": s.path("ctmux.yaml")}));
    assert!(err && !text_has(&doc, "s3cretLayoutValue") && !text_has(&doc, "envS3cretValue"), "{doc}");
    // A valid manifest text naming the server's variables learns nothing of them: MCP's validate
    // interpolates nothing from the server's environment (else `project` would be the value).
    let text = "version: 1\nname: \"p${OTHER_SECRET}\"\nsessions:\n  a:\n    panes:\n      b: \"true\"\n";
    let (_, doc) = m.call(3, "validate", serde_json::json!({"manifest": text}));
    assert!(!text_has(&doc, "envS3cretValue"), "{doc}");
    // A hint derived from the value (a cleaned-up name to try) is not shown either.
    s.write("version: 1\nname: \"${NAME_SECRET}\"\nsessions:\n  a:\n    panes:\n      b: \"true\"\n");
    let out = s.cmd(&["validate"]).env("NAME_SECRET", "my secret:pa55.xyz").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("pa55") && !err.contains("my_secret"), "{err}");
}
