//! `ctmux mcp`: the verbs as Model Context Protocol tools, over stdio (rmcp).
//!
//! Each tool call runs this same binary with `--json` and the server's global flags, as its own
//! child process, and returns that JSON document. The verbs print as they go, so a child keeps
//! each call's output apart; it also makes every call independent (one tool's panic or hang
//! cannot take the server down), lets calls run concurrently, and makes cancellation exact: the
//! child is killed (and, for `pane_exec`, the command in the pane interrupted: [`execs`]).
//! Spawning costs a few milliseconds per call. Waits for input and conversations with
//! interactive programs run in-process on a control-mode client ([`ready`]).
//!
//! Promise: every result is valid JSON, the same document as text and as `structuredContent`,
//! bounded by whole list items or whole lines ([`page`], [`bound`]).

pub mod bound;
pub mod execs;
pub mod gate;
pub mod page;
pub mod ready;
pub mod tools;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use tools::{Effect, Spec};

/// The default byte limit of one tool result.
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024;
/// The largest byte limit a call may ask for.
const MAX_MAX_BYTES: usize = 1024 * 1024;

/// How the server was started.
#[derive(Debug, Clone)]
pub struct Config {
    /// The ctmux binary each call runs.
    pub exe: PathBuf,
    /// `-f FILE`, absolute.
    pub file: Option<PathBuf>,
    /// `-L NAME` / `-S PATH` as given to `ctmux mcp` (passed on to every call).
    pub socket_flags: Vec<String>,
    /// The flags that select the tmux server for `tmux` itself (to find the caller's own pane).
    pub tmux_flags: Vec<String>,
    /// Only list and allow the reading tools.
    pub read_only: bool,
    /// Byte limit of one result unless a call asks for less (or more, up to 1 MiB).
    pub max_bytes: usize,
}

/// The MCP server: its configuration, the records of its execs, and the lines it typed into
/// each pane recently (so a later `pane_wait {match}` never matches their echo). Calls run side
/// by side.
#[derive(Clone)]
pub struct Server {
    cfg: Arc<Config>,
    execs: Arc<execs::Store>,
    typed: Arc<std::sync::Mutex<Typed>>,
}

/// Per tmux pane id: when lines were last typed into it, and those lines.
type Typed = std::collections::HashMap<String, (std::time::Instant, Vec<String>)>;

/// How long lines typed with pane_send_keys are remembered as echo to ignore.
const ECHO_MEMORY: Duration = Duration::from_secs(60);

/// Serves MCP on stdin/stdout until the client closes it.
pub async fn serve(cfg: Config) -> Result<(), String> {
    let server = Server { cfg: Arc::new(cfg), execs: Arc::new(execs::Store::open()), typed: Arc::default() };
    let running = server
        .serve(gate::gate(tokio::io::stdin(), tokio::io::stdout()))
        .await
        .map_err(|e| format!("MCP handshake failed: {e}"))?;
    running.waiting().await.map_err(|e| format!("MCP server stopped: {e}"))?;
    Ok(())
}

/// What a finished call printed and how it exited.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A ctmux-shaped error document.
fn error_doc(code: &str, message: impl Into<String>, hint: Option<&str>) -> Value {
    json!({ "schema_version": 1, "error": { "code": code, "message": message.into(), "hint": hint } })
}

impl Server {
    /// The tools this server offers (`--read-only`: the reading ones).
    fn specs(&self) -> impl Iterator<Item = &'static Spec> + '_ {
        tools::TOOLS.iter().filter(|s| !self.cfg.read_only || s.effect == Effect::Read)
    }

    /// Runs `ctmux --json [global flags] ARGS`, killing it if the client cancels the call;
    /// while it runs, its stderr lines (and the time spent) go out as progress notifications
    /// when the client asked for them.
    async fn ctmux(&self, args: &[String], ctx: &RequestContext<RoleServer>) -> Result<Ran, Value> {
        self.ctmux_with(self.cfg.file.as_deref(), args, ctx).await
    }

    async fn ctmux_with(
        &self,
        file: Option<&std::path::Path>,
        args: &[String],
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Ran, Value> {
        let mut cmd = tokio::process::Command::new(&self.cfg.exe);
        if let Some(f) = file {
            cmd.arg("-f").arg(f);
        }
        // A client's validate reads only files beside its manifest (see CONFINE_VAR), and
        // interpolates nothing from this server's environment: a manifest such as
        // `name: ${GITHUB_TOKEN}` would otherwise hand the value to the client in the result or a
        // hint. Variables come only from the manifest's own files (`.env`, `env_file:`).
        if args.first().is_some_and(|a| a == "validate") {
            let keep: Vec<(String, std::ffi::OsString)> =
                ["PATH", "HOME", "TMPDIR", "LC_ALL", "LC_CTYPE", "LANG", "CTMUX_PROFILES"]
                    .iter()
                    .filter_map(|k| std::env::var_os(k).map(|v| (k.to_string(), v)))
                    .collect();
            cmd.env_clear().envs(keep).env(crate::manifest::CONFINE_VAR, "1");
        }
        cmd.args(&self.cfg.socket_flags)
            .args(["--json", "--no-color"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| error_doc("failed", format!("cannot run {}: {e}", self.cfg.exe.display()), None))?;
        let mut stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let out_task = tokio::spawn(async move {
            let mut buf = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut buf).await;
            buf
        });
        let (line_tx, mut line_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let err_task = tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            let mut all = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = line_tx.send(line.clone());
                if all.len() < 64 * 1024 {
                    all.push_str(&line);
                    all.push('\n');
                }
            }
            all
        });
        let token = ctx.meta.get_progress_token();
        let started = std::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        let mut last_line = String::new();
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                _ = ctx.ct.cancelled() => {
                    stop(&mut child).await;
                    return Err(error_doc("cancelled", "the client cancelled the call; its ctmux process was stopped", None));
                }
                Some(line) = line_rx.recv() => {
                    last_line = line;
                    if let Some(t) = &token {
                        let p = ProgressNotificationParam::new(t.clone(), started.elapsed().as_secs_f64())
                            .with_message(last_line.clone());
                        let _ = ctx.peer.notify_progress(p).await;
                    }
                }
                _ = tick.tick() => {
                    if let Some(t) = &token {
                        let secs = started.elapsed().as_secs_f64();
                        let message = if last_line.is_empty() { format!("running for {secs:.0}s") } else { last_line.clone() };
                        let p = ProgressNotificationParam::new(t.clone(), secs).with_message(message);
                        let _ = ctx.peer.notify_progress(p).await;
                    }
                }
            }
        };
        let status = status.map_err(|e| error_doc("failed", format!("waiting for ctmux: {e}"), None))?;
        let stdout = String::from_utf8_lossy(&out_task.await.unwrap_or_default()).into_owned();
        let stderr = err_task.await.unwrap_or_default();
        Ok(Ran { code: status.code().unwrap_or(1), stdout, stderr })
    }

    /// Waits until pane `target` prints nothing for `idle`: follows its output with
    /// `ctmux pane stream` (control mode, no polling) and restarts the quiet clock on every line.
    /// The pane's process ending ends its output, so that counts as idle too.
    async fn wait_idle(
        &self,
        target: &str,
        idle: &str,
        timeout: Option<&str>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Value, Value> {
        let duration = |what: &str, text: &str| {
            crate::units::parse_duration(text).map_err(|e| error_doc("usage", format!("`{what}`: {e}"), None))
        };
        let quiet = duration("idle", idle)?;
        let limit = timeout.map(|t| duration("timeout", t)).transpose()?;
        // Fail like the other verbs on a pane that is not there (the stream would just end).
        self.doc(&["pane".into(), "status".into(), target.to_string()], ctx).await?;
        let mut cmd = tokio::process::Command::new(&self.cfg.exe);
        if let Some(f) = &self.cfg.file {
            cmd.arg("-f").arg(f);
        }
        let mut child = cmd
            .args(&self.cfg.socket_flags)
            .args(["--json", "--no-color", "pane", "stream", target])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| error_doc("failed", format!("cannot run {}: {e}", self.cfg.exe.display()), None))?;
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let started = tokio::time::Instant::now();
        let give_up = limit.map(|l| started + l);
        let mut quiet_until = started + quiet;
        let mut seen = 0u64;
        let (idle, timed_out) = loop {
            let next_deadline = give_up.map_or(quiet_until, |g| g.min(quiet_until));
            tokio::select! {
                line = lines.next_line() => match line {
                    Ok(Some(_)) => {
                        seen += 1;
                        quiet_until = tokio::time::Instant::now() + quiet;
                    }
                    // The stream ended: the pane's process exited, so no more output comes.
                    _ => break (true, false),
                },
                _ = tokio::time::sleep_until(next_deadline) => {
                    if tokio::time::Instant::now() >= quiet_until {
                        break (true, false);
                    }
                    break (false, true);
                }
                _ = ctx.ct.cancelled() => {
                    stop(&mut child).await;
                    return Err(error_doc("cancelled", "the client cancelled the call; its ctmux process was stopped", None));
                }
            }
        };
        stop(&mut child).await;
        Ok(json!({
            "schema_version": 1,
            "matched": null,
            "exit_status": null,
            "timed_out": timed_out,
            "idle": idle,
            "lines_seen": seen,
            "waited_ms": started.elapsed().as_millis() as u64,
        }))
    }

    /// Pastes `text` into pane `id` in one go: `load-buffer` from stdin into a buffer of its
    /// own, then `paste-buffer -d -p` (deleted after; bracketed if the program asked for it).
    async fn paste(&self, id: &str, text: &str) -> Result<(), Value> {
        use std::sync::atomic::{AtomicU64, Ordering};
        use tokio::io::AsyncWriteExt;
        static N: AtomicU64 = AtomicU64::new(0);
        let buffer = format!("ctmux-mcp-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let tmux_failed = |what: &str, e: String| error_doc("failed", format!("tmux {what}: {e}"), None);
        let mut load = tokio::process::Command::new("tmux")
            .args(&self.cfg.tmux_flags)
            .args(["load-buffer", "-b", &buffer, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| tmux_failed("load-buffer", e.to_string()))?;
        if let Some(mut stdin) = load.stdin.take() {
            stdin.write_all(text.as_bytes()).await.map_err(|e| tmux_failed("load-buffer", e.to_string()))?;
        }
        let out = load.wait_with_output().await.map_err(|e| tmux_failed("load-buffer", e.to_string()))?;
        if !out.status.success() {
            return Err(tmux_failed("load-buffer", String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        let out = tokio::process::Command::new("tmux")
            .args(&self.cfg.tmux_flags)
            .args(["paste-buffer", "-d", "-p", "-b", &buffer, "-t", id])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| tmux_failed("paste-buffer", e.to_string()))?;
        if !out.status.success() {
            return Err(tmux_failed("paste-buffer", String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        Ok(())
    }

    /// The pane this MCP client runs in (`$TMUX_PANE`), when it is on the server we drive.
    async fn own_pane(&self) -> Option<String> {
        let pane = std::env::var("TMUX_PANE").ok().filter(|p| !p.is_empty())?;
        let server_pid = std::env::var("TMUX").ok()?.split(',').nth(1)?.to_string();
        let out = tokio::process::Command::new("tmux")
            .args(&self.cfg.tmux_flags)
            .args(["display-message", "-p", "-t", &pane, "#{pid}"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .await
            .ok()?;
        (out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == server_pid).then_some(pane)
    }

    /// An error document when any of `panes` (tmux ids) is the caller's own pane.
    async fn refuse_own(&self, panes: &[String], what: &str) -> Option<Value> {
        let own = self.own_pane().await?;
        panes.contains(&own).then(|| {
            error_doc(
                "refused",
                format!("refusing to {what} pane {own}: the MCP client runs in it"),
                Some("name other targets, or run that from a shell yourself"),
            )
        })
    }

    /// Runs one tool; `Err` carries an error document for the agent.
    async fn call(
        &self,
        spec: &Spec,
        args: Value,
        max: usize,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Value, Value> {
        let max_of = |asked: Option<usize>| asked.unwrap_or(self.cfg.max_bytes).clamp(1024, MAX_MAX_BYTES);
        if let Some(refusal) = dash_value(&args) {
            return Err(refusal);
        }
        match spec.name {
            "up" => {
                let p: tools::UpParams = parse(args)?;
                let mut a = vec!["up".to_string()];
                if p.wait {
                    a.push("--wait".into());
                }
                if let Some(t) = p.timeout {
                    a.push(format!("--timeout={}", t.cli("timeout").map_err(|e| error_doc("usage", e, None))?));
                }
                a.push("--".into());
                a.extend(p.targets);
                self.doc(&a, ctx).await
            }
            "down" => {
                let p: tools::TargetsParams = parse(args)?;
                let mut status = vec!["status".to_string(), "--".into()];
                status.extend(p.targets.iter().cloned());
                let doc = self.doc(&status, ctx).await?;
                let ids: Vec<String> = doc["panes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["tmux_id"].as_str().map(str::to_string))
                    .collect();
                if let Some(refusal) = self.refuse_own(&ids, "stop").await {
                    return Err(refusal);
                }
                let mut a = vec!["down".to_string(), "--".into()];
                a.extend(p.targets);
                self.doc(&a, ctx).await
            }
            "status" => {
                let p: tools::StatusParams = parse(args)?;
                let from =
                    page::parse_cursor(p.cursor.as_deref(), "status").map_err(|e| error_doc("usage", e, None))?;
                let mut a = vec!["status".to_string(), "--".into()];
                a.extend(p.targets);
                let mut doc = self.doc(&a, ctx).await?;
                page::shape_panes(&mut doc, &p.fields, p.compact).map_err(|e| error_doc("usage", e, None))?;
                let key = if p.compact { "rows" } else { "panes" };
                page::page(&mut doc, key, from, max, "status");
                Ok(doc)
            }
            "plan" => {
                let p: tools::PlanParams = parse(args)?;
                let from = page::parse_cursor(p.cursor.as_deref(), "plan").map_err(|e| error_doc("usage", e, None))?;
                let mut a = vec!["plan".to_string(), "--".into()];
                a.extend(p.targets);
                let mut doc = self.doc(&a, ctx).await?;
                if let Some(key) = largest_list(&doc) {
                    page::page(&mut doc, &key, from, max, "plan");
                }
                Ok(doc)
            }
            "validate" => {
                let p: tools::ValidateParams = parse(args)?;
                match (p.manifest, p.path) {
                    (Some(_), Some(_)) => Err(error_doc("usage", "give `manifest` text or a `path`, not both", None)),
                    (Some(text), None) => {
                        let ext = match p.format.as_deref() {
                            None | Some("yaml") | Some("yml") => "yaml",
                            Some("toml") => "toml",
                            Some(other) => {
                                return Err(error_doc("usage", format!("format `{other}`: not yaml or toml"), None));
                            }
                        };
                        let dir = scratch_dir().map_err(|e| error_doc("failed", e, None))?;
                        let path = dir.join(format!("ctmux.{ext}"));
                        let wrote = std::fs::write(&path, text);
                        let result = match wrote {
                            Ok(()) => self.doc_with(Some(&path), &["validate".into()], ctx).await,
                            Err(e) => Err(error_doc("failed", format!("cannot write {}: {e}", path.display()), None)),
                        };
                        // The scratch file's path means nothing to the agent: name it `manifest`.
                        let rename = |doc: Value| -> Value {
                            let text = doc.to_string().replace(&path.display().to_string(), "manifest");
                            serde_json::from_str(&text).unwrap_or(doc)
                        };
                        let result = result.map(rename).map_err(rename);
                        let _ = std::fs::remove_dir_all(&dir);
                        result
                    }
                    (None, Some(path)) => {
                        // Only manifest files: an error quotes the file's text, and an agent must
                        // not read `/etc/shadow` through it — nor through `x.yaml -> /etc/shadow`,
                        // so the name checked (and read) is the one every link resolves to.
                        let real = match std::fs::canonicalize(&path) {
                            Ok(real) => Some(real),
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                                return Err(error_doc("not_found", format!("`{path}`: no such file"), None));
                            }
                            Err(_) => None,
                        };
                        let manifest_like = real
                            .as_deref()
                            .and_then(|r| r.extension())
                            .and_then(|e| e.to_str())
                            .is_some_and(|e| matches!(e, "yaml" | "yml" | "toml"));
                        let Some(real) = real.filter(|_| manifest_like) else {
                            return Err(error_doc(
                                "usage",
                                format!("`{path}` is not a manifest file: give a .yaml, .yml or .toml path"),
                                None,
                            ));
                        };
                        self.doc_with(Some(&real), &["validate".into()], ctx).await
                    }
                    (None, None) => self.doc(&["validate".into()], ctx).await,
                }
            }
            "pane_exec" => {
                let p: tools::ExecParams = parse(args)?;
                // Typing into the MCP server's own pane (`force`, or a busy pane's turn coming)
                // would feed its client keys; an interrupt on timeout would end it.
                if std::env::var_os("TMUX_PANE").is_some() {
                    let st = self.doc(&["pane".into(), "status".into(), p.target.clone()], ctx).await?;
                    if let Some(id) = st["pane"]["tmux_id"].as_str()
                        && let Some(refusal) = self.refuse_own(&[id.to_string()], "exec in").await
                    {
                        return Err(refusal);
                    }
                }
                self.exec(p, max, ctx).await
            }
            "pane_exec_result" => {
                let p: tools::ExecResultParams = parse(args)?;
                self.exec_result(p, max).await
            }
            "pane_signal" => {
                let p: tools::SignalParams = parse(args)?;
                // A signal is a name (`-9` or `--json` would reach the CLI as an option).
                let given = p.signal.clone().unwrap_or_else(|| "SIGINT".into());
                let Some(sig) = crate::manifest::model::normalize_signal(&given) else {
                    return Err(error_doc(
                        "usage",
                        format!("`signal` is `{given}`: not a signal name"),
                        Some(&format!("signals: {}", crate::manifest::model::SIGNALS.join(", "))),
                    ));
                };
                let st = self.doc(&["pane".into(), "status".into(), p.target.clone()], ctx).await?;
                let Some(id) = st["pane"]["tmux_id"].as_str().map(str::to_string) else {
                    return Err(error_doc("failed", format!("cannot tell which pane `{}` is: {st}", p.target), None));
                };
                if let Some(refusal) = self.refuse_own(std::slice::from_ref(&id), "signal").await {
                    return Err(refusal);
                }
                self.doc(&["pane".into(), "signal".into(), "--".into(), id, sig], ctx).await
            }
            "pane_status" => {
                let p: tools::TargetParams = parse(args)?;
                self.doc(&["pane".into(), "status".into(), p.target], ctx).await
            }
            "pane_wait" => {
                let p: tools::WaitParams = parse(args)?;
                let usage = |e: String| error_doc("usage", e, None);
                let modes: Vec<&str> = [
                    ("match", p.pattern.is_some()),
                    ("exit", p.exit),
                    ("idle", p.idle.is_some()),
                    ("prompt", p.prompt),
                ]
                .into_iter()
                .filter_map(|(n, on)| on.then_some(n))
                .collect();
                if modes.len() != 1 {
                    let given = if modes.is_empty() {
                        "none was given".to_string()
                    } else {
                        format!("got {}", modes.join(" and "))
                    };
                    return Err(error_doc(
                        "usage",
                        format!("pane_wait waits for exactly one of `match`, `exit`, `idle`, `prompt`: {given}"),
                        Some("call pane_wait once per condition"),
                    ));
                }
                if p.since_start && p.pattern.is_none() {
                    return Err(usage("`since_start` goes with `match` only".into()));
                }
                let timeout = p.timeout.as_ref().map(|t| t.get("timeout")).transpose().map_err(usage)?;
                if let Some(idle) = p.idle {
                    let idle = idle.cli("idle").map_err(usage)?;
                    let timeout = timeout.map(|t| format!("{}ms", t.as_millis()));
                    return self.wait_idle(&p.target, &idle, timeout.as_deref(), ctx).await;
                }
                if p.prompt || (p.pattern.is_some() && !p.since_start) {
                    let until = match &p.pattern {
                        Some(re) => ready::Until::Match(
                            regex::Regex::new(re).map_err(|e| usage(format!("`match`: not a regex: {e}")))?,
                        ),
                        None => ready::Until::Prompt,
                    };
                    // Where every pane's output stood when the call came: the target is resolved
                    // after that, and what it printed meanwhile is output after the call started.
                    let at_arrival = ready::cursors(&self.cfg.tmux_flags).await;
                    let mut pane = self.pane_of(&p.target, ctx).await?;
                    if let Some(cursor) = at_arrival.get(&pane.id) {
                        pane.cursor = *cursor;
                    }
                    let typed = self.recently_typed(&pane.id);
                    let limit = timeout.unwrap_or(Duration::from_secs(24 * 3600));
                    let heard =
                        ready::converse(&self.tmux(), &pane, async { Ok(()) }, &typed, until, limit, true, ctx).await?;
                    return Ok(ready::wait_doc(&heard));
                }
                let mut a = vec!["pane".to_string(), "wait".into(), p.target];
                if p.exit {
                    a.push("--exit".into());
                }
                if let Some(re) = p.pattern {
                    a.push(format!("--match={}", re));
                }
                if let Some(t) = timeout {
                    a.push(format!("--timeout={}ms", t.as_millis()));
                }
                if p.since_start {
                    a.push("--since-start".into());
                }
                self.doc(&a, ctx).await
            }
            "pane_capture" => {
                let p: tools::CaptureParams = parse(args)?;
                let mut a = vec!["pane".to_string(), "capture".into(), p.target, "--all".into()];
                if p.ansi {
                    a.push("--ansi".into());
                }
                let mut doc = self.doc(&a, ctx).await?;
                let text = doc.get("output").and_then(Value::as_str).unwrap_or_default().to_string();
                let part = bound::capture(&text, p.lines.unwrap_or(200), p.since.as_deref(), max_of(p.max_bytes))
                    .map_err(|e| error_doc("usage", e, Some("pass the `cursor` of an earlier pane_capture result")))?;
                if let (Some(d), Some(part)) = (doc.as_object_mut(), part.as_object()) {
                    for (k, v) in part {
                        d.insert(k.clone(), v.clone());
                    }
                }
                Ok(doc)
            }
            "pane_send_keys" => {
                let p: tools::SendKeysParams = parse(args)?;
                if p.text.is_none() && p.keys.is_empty() {
                    return Err(error_doc("usage", "give `text` to paste, `keys` to send, or both", None));
                }
                let usage = |e: String| error_doc("usage", e, None);
                if p.timeout.is_some() && p.wait.is_none() {
                    return Err(usage("`timeout` bounds `wait`: give `wait` (\"prompt\" or a regex) too".into()));
                }
                let until = match p.wait.as_deref() {
                    None => None,
                    Some("prompt") => Some(ready::Until::Prompt),
                    Some(re) => Some(ready::Until::Match(
                        regex::Regex::new(re)
                            .map_err(|e| usage(format!("`wait`: not \"prompt\" and not a regex: {e}")))?,
                    )),
                };
                let limit = p.timeout.as_ref().map(|t| t.get("timeout")).transpose().map_err(usage)?;
                let st = self.doc(&["pane".into(), "status".into(), p.target.clone()], ctx).await?;
                let Some(id) = st["pane"]["tmux_id"].as_str().map(str::to_string) else {
                    return Err(error_doc("failed", format!("cannot tell which pane `{}` is: {st}", p.target), None));
                };
                // Keys (a C-c) into the MCP server's own pane would end it: refused there.
                if let Some(refusal) = self.refuse_own(std::slice::from_ref(&id), "send keys to").await {
                    return Err(refusal);
                }
                // What gets typed, line by line: its echo is not output.
                let mut typed: Vec<String> =
                    p.text.as_deref().map(|t| t.lines().map(str::to_string).collect()).unwrap_or_default();
                if p.literal {
                    typed.extend(p.keys.iter().flat_map(|k| k.lines().map(str::to_string)));
                }
                self.remember_typed(&id, &typed);
                let send = async {
                    if let Some(text) = &p.text {
                        self.paste(&id, text).await?;
                    }
                    if !p.keys.is_empty() {
                        let mut a = vec!["pane".to_string(), "send-keys".into(), id.clone()];
                        if p.literal {
                            a.push("--literal".into());
                        }
                        a.push("--".into());
                        a.extend(p.keys.iter().cloned());
                        self.doc(&a, ctx).await?;
                    }
                    Ok(())
                };
                let mut doc = json!({ "schema_version": 1, "ok": true, "tmux_id": id });
                if let Some(text) = &p.text {
                    doc["pasted_bytes"] = json!(text.len());
                }
                let Some(until) = until else {
                    send.await?;
                    return Ok(doc);
                };
                let pane = ready::Pane::find(&self.cfg.tmux_flags, &id).await?;
                let heard = ready::converse(
                    &self.tmux(),
                    &pane,
                    send,
                    &typed,
                    until,
                    limit.unwrap_or(Duration::from_secs(30)),
                    false,
                    ctx,
                )
                .await?;
                let (output, skipped) = page::tail_lines(&heard.output, max.saturating_sub(1024).max(256));
                doc["output"] = json!(output);
                doc["matched"] = json!(heard.matched);
                doc["ready"] = json!(heard.ready);
                doc["timed_out"] = json!(heard.timed_out);
                doc["waited_ms"] = json!(heard.waited_ms);
                if skipped > 0 {
                    doc["truncated"] =
                        json!(format!("the first {skipped} bytes of output are left out (pane_capture has them)"));
                }
                Ok(doc)
            }
            "pane_new" => {
                let p: tools::PaneNewParams = parse(args)?;
                let mut a = vec!["pane".to_string(), "new".into(), p.session];
                if let Some(n) = p.name {
                    a.push(format!("--name={}", n));
                }
                push_cwd_and_command(&mut a, p.cwd, p.command);
                self.doc(&a, ctx).await
            }
            "pane_kill" => {
                let p: tools::TargetParams = parse(args)?;
                let st = self.doc(&["pane".into(), "status".into(), p.target.clone()], ctx).await?;
                let Some(id) = st["pane"]["tmux_id"].as_str().map(str::to_string) else {
                    return Err(error_doc("failed", format!("cannot tell which pane `{}` is: {st}", p.target), None));
                };
                if let Some(refusal) = self.refuse_own(std::slice::from_ref(&id), "kill").await {
                    return Err(refusal);
                }
                // The id, not the name: what was checked is what gets killed.
                self.doc(&["pane".into(), "kill".into(), id], ctx).await
            }
            "session_new" => {
                let p: tools::SessionNewParams = parse(args)?;
                let mut a = vec!["session".to_string(), "new".into(), p.name];
                push_cwd_and_command(&mut a, p.cwd, p.command);
                self.doc(&a, ctx).await
            }
            "session_ls" => {
                let p: tools::PageParams = parse(args)?;
                let from =
                    page::parse_cursor(p.cursor.as_deref(), "session_ls").map_err(|e| error_doc("usage", e, None))?;
                let mut doc = self.doc(&["session".into(), "ls".into()], ctx).await?;
                page::page(&mut doc, "sessions", from, max, "session_ls");
                Ok(doc)
            }
            "logs" => {
                let p: tools::LogsParams = parse(args)?;
                let cursor = p.since.as_deref().and_then(bound::LogsCursor::parse);
                let mut a = vec!["logs".to_string()];
                match (&cursor, &p.since) {
                    (Some(c), _) => a.extend(["--since".into(), c.ts.to_string()]),
                    (None, Some(since)) => a.push(format!("--since={since}")),
                    (None, None) => a.extend(["-n".into(), p.lines.unwrap_or(100).to_string()]),
                }
                if let (Some(n), Some(_)) = (p.lines, &p.since) {
                    a.extend(["-n".into(), n.to_string()]);
                }
                if let Some(g) = p.grep {
                    a.push(format!("--grep={}", g));
                }
                if p.ansi {
                    a.push("--ansi".into());
                }
                a.push("--".into());
                a.extend(p.targets);
                let ran = self.ctmux(&a, ctx).await?;
                let mut lines = Vec::new();
                for l in ran.stdout.lines().filter(|l| !l.trim().is_empty()) {
                    let v: Value = serde_json::from_str(l).map_err(|_| not_json(&a, &ran))?;
                    if v.get("error").is_some() {
                        return Err(v);
                    }
                    lines.push(v);
                }
                if ran.code != 0 && lines.is_empty() {
                    return Err(not_json(&a, &ran));
                }
                for l in &mut lines {
                    if let Some(o) = l.as_object_mut() {
                        o.remove("schema_version");
                    }
                }
                let mut doc = bound::logs(lines, cursor, max_of(p.max_bytes));
                if let Some(o) = doc.as_object_mut() {
                    o.shift_insert(0, "schema_version".into(), json!(1));
                }
                Ok(doc)
            }
            "events" => {
                let p: tools::EventsParams = parse(args)?;
                let limit = p.limit.unwrap_or(100).max(1);
                let mut a = vec!["events".to_string()];
                if p.since_id.is_none() {
                    a.extend(["-n".into(), limit.to_string()]);
                }
                for k in p.kinds {
                    a.push(format!("--kind={}", k));
                }
                a.push("--".into());
                a.extend(p.targets);
                let doc = self.doc(&a, ctx).await?;
                let events = doc["events"].as_array().cloned().unwrap_or_default();
                let mut out = bound::events(events, p.since_id, limit, max_of(p.max_bytes));
                if let Some(o) = out.as_object_mut() {
                    o.shift_insert(0, "schema_version".into(), json!(1));
                }
                Ok(out)
            }
            other => Err(error_doc("usage", format!("no tool `{other}`"), None)),
        }
    }

    /// Runs a verb whose `--json` output is one document.
    async fn doc(&self, args: &[String], ctx: &RequestContext<RoleServer>) -> Result<Value, Value> {
        self.doc_with(self.cfg.file.as_deref(), args, ctx).await
    }

    async fn doc_with(
        &self,
        file: Option<&std::path::Path>,
        args: &[String],
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Value, Value> {
        let ran = self.ctmux_with(file, args, ctx).await?;
        // A non-zero exit with a document is a result (a command's own exit status, a
        // timeout); the document says whether ctmux itself failed.
        let doc: Value = serde_json::from_str(ran.stdout.trim()).map_err(|_| not_json(args, &ran))?;
        if doc.get("error").is_some() { Err(doc) } else { Ok(doc) }
    }
}

/// The error when a call printed no JSON document (it should always print one).
fn not_json(args: &[String], ran: &Ran) -> Value {
    let tail: Vec<&str> = ran.stderr.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    error_doc(
        "failed",
        format!("`ctmux {}` exited {} without a JSON result: {}", args.join(" "), ran.code, tail.join(" / ")),
        None,
    )
}

/// Tool arguments as `T`, or a usage error document naming what is wrong.
/// A usage error when a single pane, session or name argument begins with `-`: the verbs take
/// it as a positional argument, where the CLI would read it as an option (lists of targets go
/// after `--` and other values as `--flag=VALUE`, so they are passed as they are).
fn dash_value(args: &Value) -> Option<Value> {
    ["target", "session", "name"].into_iter().find_map(|key| {
        let v = args.get(key)?.as_str()?;
        v.starts_with('-').then(|| {
            error_doc(
                "usage",
                format!("`{key}` is `{v}`: a value that begins with `-` would be read as an option"),
                Some("name the pane by its tmux id (%N) or its ctmux address; pick names that do not begin with `-`"),
            )
        })
    })
}

fn parse<T: DeserializeOwned>(args: Value) -> Result<T, Value> {
    serde_json::from_value(args).map_err(|e| error_doc("usage", format!("bad arguments: {e}"), None))
}

/// A private directory for a manifest text to validate (its name must be `ctmux.yaml`).
fn scratch_dir() -> Result<PathBuf, String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir =
        std::env::temp_dir().join(format!("ctmux-mcp-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Stops a cancelled call: SIGTERM (so it can let go of tmux), SIGKILL after 2 s.
async fn stop(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on our own child's pid; it touches no memory.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    }
    if tokio::time::timeout(Duration::from_secs(2), child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

/// A tool result: the document as JSON text and as structured content, bounded by whole items
/// or lines ([`page::fit`]), so both copies are always the same valid document.
fn result(doc: Value, is_error: bool, max: usize) -> CallToolResult {
    let mut doc = page::fit(doc, max);
    if let Some(o) = doc.as_object_mut()
        && !o.contains_key("schema_version")
    {
        o.shift_insert(0, "schema_version".into(), json!(1));
    }
    if is_error { CallToolResult::structured_error(mcp_words(doc)) } else { CallToolResult::structured(doc) }
}

/// An error document in the words of the MCP tools: CLI flags become tool arguments, and the
/// busy-pane hint names what an agent can call.
fn mcp_words(mut doc: Value) -> Value {
    const FLAGS: &[(&str, &str)] = &[
        ("--kill-on-timeout", "`kill_on_timeout`"),
        ("--since-start", "`since_start`"),
        ("--force", "`force: true`"),
        ("--timeout", "`timeout`"),
        ("--match", "`match`"),
        ("--exit", "`exit`"),
        ("--wait", "`wait`"),
        ("--literal", "`literal`"),
    ];
    let Some(err) = doc.get_mut("error").and_then(Value::as_object_mut) else { return doc };
    if err.get("code").and_then(Value::as_str) == Some("pane_busy") {
        err.insert(
            "hint".into(),
            json!(
                "if it is an earlier pane_exec's command, collect it with pane_exec_result {exec_id, timeout}; \
                 wait for its prompt with pane_wait {prompt: true}; stop it with pane_signal (SIGINT) or \
                 pane_send_keys {keys: [\"C-c\"]}; or type anyway with pane_exec {force: true}"
            ),
        );
    }
    for key in ["message", "hint"] {
        if let Some(Value::String(text)) = err.get_mut(key) {
            for (flag, arg) in FLAGS {
                *text = text.replace(flag, arg);
            }
        }
    }
    doc
}

/// The key of a document's longest list, to page it by.
fn largest_list(doc: &Value) -> Option<String> {
    doc.as_object()?
        .iter()
        .filter(|(_, v)| v.is_array())
        .max_by_key(|(_, v)| v.to_string().len())
        .map(|(k, _)| k.clone())
}

impl Server {
    /// The tmux server this MCP server drives, as a handle for control clients.
    fn tmux(&self) -> crate::tmux::Tmux {
        // The flags are tmux's client flags (`-u`, then `-L NAME` or `-S PATH`, if any).
        let f = &self.cfg.tmux_flags;
        let at = f.iter().position(|a| a == "-L" || a == "-S");
        let socket = match (at.map(|i| f[i].as_str()), at.and_then(|i| f.get(i + 1))) {
            (Some("-L"), Some(n)) => crate::tmux::Socket::Name(n.clone()),
            (Some("-S"), Some(p)) => crate::tmux::Socket::Path(p.into()),
            _ => crate::tmux::Socket::Default,
        };
        crate::tmux::Tmux::new(socket)
    }

    /// The pane `target` names (a ctmux address or a tmux target), looked up as the CLI does.
    async fn pane_of(&self, target: &str, ctx: &RequestContext<RoleServer>) -> Result<ready::Pane, Value> {
        // A tmux pane id needs no resolving: one tmux call instead of a ctmux process.
        if target.len() > 1 && target.starts_with('%') && target[1..].bytes().all(|b| b.is_ascii_digit()) {
            return ready::Pane::find(&self.cfg.tmux_flags, target).await;
        }
        let st = self.doc(&["pane".into(), "status".into(), target.to_string()], ctx).await?;
        let Some(id) = st["pane"]["tmux_id"].as_str() else {
            return Err(error_doc("failed", format!("cannot tell which pane `{target}` is: {st}"), None));
        };
        ready::Pane::find(&self.cfg.tmux_flags, id).await
    }

    /// Remembers the lines typed into pane `id`, whose echo a later wait must not match.
    fn remember_typed(&self, id: &str, lines: &[String]) {
        if let Ok(mut typed) = self.typed.lock() {
            typed.retain(|_, (at, _)| at.elapsed() < ECHO_MEMORY);
            let entry = typed.entry(id.to_string()).or_insert_with(|| (std::time::Instant::now(), Vec::new()));
            entry.0 = std::time::Instant::now();
            entry.1.extend(lines.iter().cloned());
            let excess = entry.1.len().saturating_sub(64);
            entry.1.drain(..excess);
        }
    }

    /// The lines typed into pane `id` lately.
    fn recently_typed(&self, id: &str) -> Vec<String> {
        self.typed
            .lock()
            .ok()
            .and_then(|t| t.get(id).filter(|(at, _)| at.elapsed() < ECHO_MEMORY).map(|(_, l)| l.clone()))
            .unwrap_or_default()
    }
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        let mode = if self.cfg.read_only { " This server is read-only: it only offers reading tools." } else { "" };
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("ctmux", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "ctmux drives tmux: start a manifest's stack (up), read its state (status), run a \
                 command in a pane and get its exit status and output (pane_exec), wait for output \
                 or an exit (pane_wait), read output (pane_capture, logs) and events. Results are \
                 the JSON documents of `ctmux --json`, always valid JSON: long lists come in pages \
                 with a `cursor` to pass back, long command output keeps its start and \
                 pane_exec_result {{exec_id, cursor}} returns the rest.{mode}"
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult { tools: self.specs().map(tools::listing).collect(), ..Default::default() })
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.specs().find(|s| s.name == name).map(tools::listing)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(spec) = self.specs().find(|s| s.name == request.name) else {
            let why = if tools::find(&request.name).is_some() && self.cfg.read_only {
                format!("tool `{}` changes things; this server runs with --read-only", request.name)
            } else {
                format!("no tool `{}`", request.name)
            };
            return Err(ErrorData::invalid_params(why, None));
        };
        let args = Value::Object(request.arguments.unwrap_or_default());
        // A call's own `max_bytes` (1 KiB to 1 MiB) replaces the server's limit for its result.
        let max = args
            .get("max_bytes")
            .and_then(Value::as_u64)
            .map_or(self.cfg.max_bytes, |m| (m as usize).clamp(1024, MAX_MAX_BYTES));
        let out = match self.call(spec, args, max, &context).await {
            Ok(doc) => result(doc, false, max),
            Err(doc) => result(doc, true, max),
        };
        Ok(out.into())
    }
}

/// `ctmux mcp` arguments other than the global flags, as the CLI verb passes them on.
pub fn config(
    file: Option<PathBuf>,
    socket_flags: Vec<String>,
    tmux_flags: Vec<String>,
    read_only: bool,
    max_bytes: usize,
) -> Result<Config, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the ctmux binary: {e}"))?;
    let file = match file {
        Some(f) => Some(std::path::absolute(&f).map_err(|e| format!("-f {}: {e}", f.display()))?),
        None => None,
    };
    Ok(Config { exe, file, socket_flags, tmux_flags, read_only, max_bytes })
}

/// `--cwd DIR` and `-- COMMAND…` for the verbs that create a pane (`pane new`, `session new`).
fn push_cwd_and_command(args: &mut Vec<String>, cwd: Option<String>, command: Option<tools::CommandLine>) {
    if let Some(c) = cwd {
        args.push(format!("--cwd={c}"));
    }
    if let Some(c) = command {
        args.push("--".into());
        args.extend(c.words());
    }
}
