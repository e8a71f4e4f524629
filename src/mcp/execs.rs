//! Resumable `pane_exec`: every exec gets an `exec_id`, and its output and exit status are kept
//! after the call returns, so a long output can be read from its start page by page and a
//! command that outlived its call's `timeout` is collected later (`pane_exec_result`).
//!
//! The exec runs as a `ctmux pane exec --wait` child that is not tied to the call: the call
//! returns at its own timeout while the child keeps the pane's turn (other execs queue behind
//! it) and records the final status when the command ends. Records live in the state directory
//! (`mcp-exec/`, mode 0700; files 0600), at most [`MAX_STORED`] bytes of output each, and are
//! removed after [`KEEP`] or beyond [`MAX_RECORDS`]. Cancelling a call interrupts the command in
//! the pane (SIGINT to its process group; with `kill_on_timeout`, SIGKILL if that is not enough).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::{Server, error_doc, page, tools};

/// Output bytes kept per exec (the start; `output_bytes` says how much there was).
pub const MAX_STORED: usize = 32 * 1024 * 1024;
/// How long a record is kept.
pub const KEEP: Duration = Duration::from_secs(24 * 3600);
/// How many records are kept at most.
pub const MAX_RECORDS: usize = 200;
/// Bytes of a result kept for the fields around the output.
const SLACK: usize = 768;

/// One exec, as stored next to its output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Its id.
    pub exec_id: String,
    /// The pane as the caller named it.
    pub target: String,
    /// The command as typed.
    pub command: String,
    /// Unix ms when it was asked for.
    pub started_ms: u64,
    /// The command finished (or ctmux gave up on it: `error`).
    pub finished: bool,
    /// Its exit status once finished.
    pub exit_status: Option<i32>,
    /// ctmux's error document, when the exec failed rather than the command.
    pub error: Option<Value>,
    /// Bytes of output the command printed.
    pub output_bytes: usize,
    /// The command was interrupted and its shell never reported a status: `exit_status` is
    /// then 130 (128 + SIGINT), as a shell reports a job Ctrl-C ended.
    #[serde(default)]
    pub interrupted: bool,
}

/// The records of this server's execs, and the live ones' completion signals.
pub struct Store {
    dir: Option<PathBuf>,
    /// Why the directory is not used (a planted link in its place), said by each waiting exec.
    refused: Option<String>,
    /// Device and inode of `dir` when it was checked.
    ident: Option<(u64, u64)>,
    live: Mutex<HashMap<String, watch::Receiver<bool>>>,
    /// When [`Store::clean`] last ran (unix ms; 0: never), and the execs since.
    cleaned_ms: std::sync::atomic::AtomicU64,
    since_clean: std::sync::atomic::AtomicUsize,
}

/// How often the store is cleaned at most, by time…
const CLEAN_EVERY: Duration = Duration::from_secs(10);
/// …unless this many execs came since (a burst cannot outgrow [`MAX_RECORDS`] by more).
const CLEAN_EVERY_N: usize = 20;

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Store {
    /// The store under the state directory (none when it cannot be created: execs then still
    /// run, without an `exec_id` to come back to).
    pub fn open() -> Store {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let dir = crate::state::dir().join("mcp-exec");
        let made = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir);
        let refused = match (made, std::fs::symlink_metadata(&dir)) {
            (Err(e), _) => Some(format!("cannot create {}: {e}", dir.display())),
            (_, Ok(m)) if m.file_type().is_symlink() => Some(format!(
                "{} is a symlink: refused (exec records are kept only in a real directory)",
                dir.display()
            )),
            (_, Ok(m)) if !m.is_dir() => Some(format!("{} is not a directory", dir.display())),
            (_, Err(e)) => Some(format!("cannot read {}: {e}", dir.display())),
            _ => std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .err()
                .map(|e| format!("cannot make {} private: {e}", dir.display())),
        };
        let ident = std::fs::symlink_metadata(&dir).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino())
        });
        Store {
            ident,
            dir: refused.is_none().then_some(dir),
            refused,
            live: Mutex::new(HashMap::new()),
            cleaned_ms: Default::default(),
            since_clean: Default::default(),
        }
    }

    fn path(&self, id: &str, ext: &str) -> Option<PathBuf> {
        let valid = !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        self.dir.as_ref().filter(|d| valid && self.still_ours(d)).map(|d| d.join(format!("{id}.{ext}")))
    }

    /// Whether `dir` is still the directory [`Store::open`] checked: a link (or another
    /// directory) put in its place while the server runs is neither written nor read through.
    fn still_ours(&self, dir: &std::path::Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && self.ident == Some((m.dev(), m.ino())))
    }

    fn save(&self, r: &Record, output: Option<&str>) {
        if let Some(out) = output.zip(self.path(&r.exec_id, "out")) {
            let (text, p) = out;
            let keep = &text.as_bytes()[..text.len().min(MAX_STORED)];
            let _ = crate::state::write_atomic_unsynced(&p, keep);
        }
        if let (Some(p), Ok(json)) = (self.path(&r.exec_id, "json"), serde_json::to_vec(r)) {
            let _ = crate::state::write_atomic_unsynced(&p, &json);
        }
    }

    /// The record of `id`, as last saved.
    pub fn load(&self, id: &str) -> Option<Record> {
        let p = self.path(id, "json")?;
        serde_json::from_slice(&std::fs::read(p).ok()?).ok()
    }

    fn output(&self, id: &str) -> String {
        self.path(id, "out")
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Removes records older than [`KEEP`] and the oldest beyond [`MAX_RECORDS`]; at most once
    /// every [`CLEAN_EVERY`] (it reads the whole directory) or [`CLEAN_EVERY_N`] execs.
    fn clean(&self) {
        use std::sync::atomic::Ordering;
        let now = now_ms();
        let last = self.cleaned_ms.load(Ordering::Relaxed);
        let n = self.since_clean.fetch_add(1, Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < CLEAN_EVERY.as_millis() as u64 && n < CLEAN_EVERY_N {
            return;
        }
        self.cleaned_ms.store(now, Ordering::Relaxed);
        self.since_clean.store(0, Ordering::Relaxed);
        let Some(dir) = self.dir.as_ref().filter(|d| self.still_ours(d)) else { return };
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut records: Vec<(std::time::SystemTime, String)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let id = name.strip_suffix(".json")?.to_string();
                Some((e.metadata().ok()?.modified().ok()?, id))
            })
            .collect();
        records.sort();
        let excess = records.len().saturating_sub(MAX_RECORDS);
        let live = self.live.lock().map(|l| l.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
        for (i, (at, id)) in records.iter().enumerate() {
            let old = at.elapsed().is_ok_and(|a| a > KEEP);
            if (old || i < excess) && !live.contains(id) {
                for ext in ["json", "out"] {
                    if let Some(p) = self.path(id, ext) {
                        let _ = std::fs::remove_file(p);
                    }
                }
            }
        }
    }
}

/// A fresh exec id: this server's pid, the time and a counter.
fn new_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("x{:x}-{:x}-{}", std::process::id(), now_ms(), N.fetch_add(1, Ordering::Relaxed))
}

/// Interrupts what runs in the foreground of `shell`'s terminal: SIGINT to its process group
/// (Ctrl-C), then, with `kill`, SIGKILL when the shell has not got the terminal back in 2 s.
pub async fn interrupt(shell: u32, kill: bool) {
    let back = || crate::process::foreground_group(shell).is_none_or(|g| g == shell);
    let Some(group) = crate::process::foreground_group(shell).filter(|&g| g != shell) else { return };
    crate::process::signal_group(group, "SIGINT");
    let until = Instant::now() + Duration::from_secs(2);
    while !back() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if kill && !back() {
        crate::process::signal_group(group, "SIGKILL");
        let until = Instant::now() + Duration::from_secs(1);
        while !back() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// How a waiting call ended.
enum End {
    Done,
    TimedOut,
    Cancelled,
}

impl Server {
    /// `pane_exec`.
    pub(super) async fn exec(
        &self,
        p: tools::ExecParams,
        max: usize,
        ctx: &rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Value, Value> {
        let usage = |e: String| error_doc("usage", e, None);
        let timeout = p.timeout.as_ref().map(|t| t.get("timeout")).transpose().map_err(usage)?;
        let text = p.command.shell_text();
        if text.trim().is_empty() {
            return Err(error_doc("usage", "`command` is empty: give the command to run", None));
        }
        if !p.wait && (p.timeout.is_some() || p.kill_on_timeout) {
            return Err(error_doc(
                "usage",
                "`timeout` and `kill_on_timeout` bound a waited exec: leave them out with `wait: false`",
                None,
            ));
        }
        if !p.wait {
            let mut a = vec!["pane".to_string(), "exec".into(), p.target];
            if p.force {
                a.push("--force".into());
            }
            a.extend(["--".into(), text]);
            return self.doc(&a, ctx).await;
        }
        let store = &self.execs;
        // Without its records a waiting exec could never learn how the command ended.
        let replaced = store.dir.as_ref().filter(|d| !store.still_ours(d)).map(|d| {
            format!("{} was replaced (a link or another directory) since the server started: refused", d.display())
        });
        if let Some(why) = store.refused.as_ref().or(replaced.as_ref()) {
            return Err(error_doc(
                "failed",
                format!("pane_exec cannot keep its result: {why}"),
                Some(
                    "remove the link (or whatever is in its place); the MCP server makes the directory again when it starts",
                ),
            ));
        }
        store.clean();
        let id = new_id();
        let mut cmd = tokio::process::Command::new(&self.cfg.exe);
        if let Some(f) = &self.cfg.file {
            cmd.arg("-f").arg(f);
        }
        cmd.args(&self.cfg.socket_flags).args(["--json", "--no-color", "pane", "exec", &p.target, "--wait"]);
        if p.force {
            cmd.arg("--force");
        }
        cmd.arg("--")
            .arg(&text)
            .env("CTMUX_MCP_EXEC", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // The command's run outlives this call: the child records how it ended.
            .kill_on_drop(false);
        let mut child = cmd
            .spawn()
            .map_err(|e| error_doc("failed", format!("cannot run {}: {e}", self.cfg.exe.display()), None))?;
        let child_pid = child.id();
        let mut record = Record {
            exec_id: id.clone(),
            target: p.target.clone(),
            command: text.clone(),
            started_ms: now_ms(),
            finished: false,
            exit_status: None,
            error: None,
            output_bytes: 0,
            interrupted: false,
        };
        store.save(&record, Some(""));
        let (typing_tx, mut typing_rx) = oneshot::channel::<(String, u32, i64)>();
        let (done_tx, mut done_rx) = watch::channel(false);
        if let Ok(mut live) = store.live.lock() {
            live.insert(id.clone(), done_rx.clone());
        }
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let execs = self.execs.clone();
        let ansi = p.ansi;
        // Set when this call interrupted the command and then stopped the child.
        let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let was_interrupted = interrupted.clone();
        tokio::spawn(async move {
            let err_task = tokio::spawn(async move {
                let mut typing_tx = Some(typing_tx);
                let mut lines = tokio::io::BufReader::new(stderr?).lines();
                let mut rest = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(what) = line.strip_prefix("ctmux-exec-typing ") {
                        let mut w = what.split_whitespace();
                        let pane = w.next();
                        let pid = w.next().and_then(|p| p.parse().ok());
                        let line = w.next().and_then(|l| l.parse().ok()).unwrap_or(i64::MIN);
                        if let (Some(pane), Some(pid), Some(tx)) = (pane, pid, typing_tx.take()) {
                            let _ = tx.send((pane.to_string(), pid, line));
                        }
                    } else if rest.len() < 8192 {
                        rest.push_str(&line);
                        rest.push('\n');
                    }
                }
                Some(rest)
            });
            let mut out = Vec::new();
            if let Some(mut s) = stdout {
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut s, &mut out).await;
            }
            let _ = child.wait().await;
            let stderr = err_task.await.ok().flatten().unwrap_or_default();
            let stopped = was_interrupted.load(std::sync::atomic::Ordering::SeqCst);
            let doc: Value = serde_json::from_slice(&out).unwrap_or_else(|_| {
                if stopped {
                    // A shell abandons the rest of a command line on SIGINT: no status comes.
                    return json!({ "exit_status": 130, "output": "", "interrupted": true });
                }
                let why = stderr.lines().last().unwrap_or("it printed no result").to_string();
                error_doc("failed", format!("pane exec ended without a result: {why}"), None)
            });
            let output = doc.get("output").and_then(Value::as_str).unwrap_or_default();
            let output = if ansi { output.to_string() } else { super::bound::strip_ansi(output) };
            record.finished = true;
            record.output_bytes = output.len();
            record.exit_status = doc.get("exit_status").and_then(Value::as_i64).map(|s| s as i32);
            record.error = doc.get("error").map(|_| doc.clone());
            record.interrupted = doc.get("interrupted").is_some();
            execs.save(&record, Some(&output));
            let _ = done_tx.send(true);
            if let Ok(mut live) = execs.live.lock() {
                live.remove(&record.exec_id);
            }
        });

        let deadline = timeout.map(|t| Instant::now() + t);
        let mut typing: Option<(String, u32, i64)> = None;
        let mut typing_open = true;
        let end = loop {
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                t = &mut typing_rx, if typing_open => {
                    typing_open = false;
                    if let Ok(t) = t {
                        typing = Some(t);
                    }
                }
                r = done_rx.changed() => {
                    if r.is_err() || *done_rx.borrow() {
                        break End::Done;
                    }
                }
                () = sleep => break End::TimedOut,
                () = ctx.ct.cancelled() => break End::Cancelled,
            }
        };
        let wait_done = |rx: &mut watch::Receiver<bool>, within: Duration| {
            let mut rx = rx.clone();
            async move {
                let _ = tokio::time::timeout(within, rx.wait_for(|d| *d)).await;
            }
        };
        match end {
            End::Done => {}
            End::TimedOut | End::Cancelled => match &typing {
                Some((_, shell, _)) => {
                    if matches!(end, End::Cancelled) || p.kill_on_timeout {
                        interrupt(*shell, p.kill_on_timeout).await;
                        // The interrupted command's status comes through the child, unless the
                        // shell abandoned the command line: then stop the child (its pipe and
                        // the pane's turn go with it).
                        wait_done(&mut done_rx, Duration::from_secs(1)).await;
                        if !*done_rx.borrow()
                            && let Some(pid) = child_pid
                        {
                            interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                            crate::process::signal(pid, "SIGTERM");
                            wait_done(&mut done_rx, Duration::from_secs(3)).await;
                        }
                    }
                }
                None => {
                    // Not typed yet (the pane's turn never came): nothing runs; stop the child.
                    if let Some(pid) = child_pid {
                        crate::process::signal(pid, "SIGTERM");
                    }
                    wait_done(&mut done_rx, Duration::from_secs(3)).await;
                    if let Some(p) = store.path(&id, "json") {
                        let _ = std::fs::remove_file(p);
                    }
                    let _ = store.path(&id, "out").map(std::fs::remove_file);
                    if matches!(end, End::Cancelled) {
                        return Err(error_doc(
                            "cancelled",
                            "the client cancelled the call before the command was typed",
                            None,
                        ));
                    }
                    return Ok(json!({
                        "schema_version": 1,
                        "exec_id": null,
                        "exit_status": null,
                        "output": "",
                        "timed_out": true,
                        "running": false,
                        "truncated": "the command was not typed: another exec held the pane for the whole timeout",
                    }));
                }
            },
        }
        let rec = store.load(&id).unwrap_or_else(|| Record {
            exec_id: id.clone(),
            target: p.target.clone(),
            command: text.clone(),
            started_ms: 0,
            finished: false,
            exit_status: None,
            error: None,
            output_bytes: 0,
            interrupted: false,
        });
        if let Some(err) = rec.error.clone().filter(|_| rec.finished) {
            // ctmux's own failure (a busy pane, a bad target): an error, not a command result.
            return Err(err);
        }
        if matches!(end, End::Cancelled) {
            return Err(error_doc(
                "cancelled",
                format!(
                    "the client cancelled the call; the command was interrupted (exec_id {id}{})",
                    rec.exit_status.map_or(String::new(), |s| format!(", exit status {s}"))
                ),
                None,
            ));
        }
        let mut doc = self.exec_page(&rec, 0, max);
        if !rec.finished {
            doc["timed_out"] = json!(true);
            doc["output"] = json!("");
            if let Some((pane, _, line)) = typing.as_ref().filter(|t| t.2 != i64::MIN) {
                // What it printed so far, from the pane's screen (the record gets the exact
                // output when it ends).
                let text = super::ready::text_from_line(&self.tmux(), pane, *line).await.unwrap_or_default();
                let so_far = output_so_far(&text);
                let (head, _) = page::head(&so_far, 0, max.saturating_sub(SLACK + 256).max(256));
                doc["output"] = json!(head);
                doc["partial"] = json!(true);
            }
            doc["cursor"] = json!("0");
            doc["truncated"] = json!(format!(
                "still running after the timeout; call pane_exec_result {{\"exec_id\":\"{id}\",\"timeout\":30}} for its output and exit status"
            ));
        } else if matches!(end, End::TimedOut) {
            doc["timed_out"] = json!(true);
        }
        Ok(doc)
    }

    /// One page of a record's output from byte `from`, with its state.
    fn exec_page(&self, rec: &Record, from: usize, max: usize) -> Value {
        let output = self.execs.output(&rec.exec_id);
        let (text, next) = page::head(&output, from, max.saturating_sub(SLACK).max(256));
        let mut doc = json!({
            "schema_version": 1,
            "exec_id": rec.exec_id,
            "exit_status": rec.exit_status,
            "output": text,
            "timed_out": false,
            "running": !rec.finished,
            "output_bytes": rec.output_bytes,
            "cursor": next.map(|n| n.to_string()),
        });
        if rec.interrupted {
            doc["interrupted"] = json!(true);
        }
        if let Some(n) = next {
            doc["truncated"] = json!(format!(
                "output continues at byte {n} of {}: call pane_exec_result {{\"exec_id\":\"{}\",\"cursor\":\"{n}\"}}",
                output.len(),
                rec.exec_id
            ));
        } else if rec.output_bytes > output.len() {
            doc["truncated"] =
                json!(format!("only the first {} of {} bytes of output were kept", output.len(), rec.output_bytes));
        }
        doc
    }

    /// `pane_exec_result`.
    pub(super) async fn exec_result(&self, p: tools::ExecResultParams, max: usize) -> Result<Value, Value> {
        let usage = |e: String| error_doc("usage", e, None);
        let wait = p.timeout.as_ref().map(|t| t.get("timeout")).transpose().map_err(usage)?;
        let from = page::parse_cursor(p.cursor.as_deref(), "pane_exec_result").map_err(usage)?;
        let unknown = || {
            error_doc(
                "not_found",
                format!("no exec `{}` (records are kept for a day)", p.exec_id),
                Some("pass the `exec_id` of a pane_exec result"),
            )
        };
        let rec = self.execs.load(&p.exec_id).ok_or_else(unknown)?;
        let live = self.execs.live.lock().ok().and_then(|l| l.get(&p.exec_id).cloned());
        let rec = match (rec.finished, live, wait) {
            (false, Some(mut rx), Some(w)) => {
                let _ = tokio::time::timeout(w, rx.wait_for(|d| *d)).await;
                self.execs.load(&p.exec_id).ok_or_else(unknown)?
            }
            _ => rec,
        };
        if let Some(err) = rec.error.clone().filter(|_| rec.finished) {
            return Err(err);
        }
        let mut doc = self.exec_page(&rec, from, max);
        if !rec.finished && self.execs.live.lock().ok().is_some_and(|l| !l.contains_key(&p.exec_id)) {
            doc["truncated"] =
                json!("the MCP server that ran this exec stopped before it ended: its exit status is unknown");
            doc["running"] = Value::Null;
        }
        Ok(doc)
    }
}

/// A running command's output so far, from the pane text starting at the line it was typed on:
/// that line (the echoed command, with any wrapper ctmux typed around it) and the trailing
/// prompt-less blank lines are not output.
fn output_so_far(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let start = lines.iter().position(|l| l.starts_with("CTMUX-BEGIN-")).map_or(1, |i| i + 1);
    let rest = lines.get(start..).unwrap_or_default();
    if rest.is_empty() { String::new() } else { format!("{}\n", rest.join("\n")) }
}

#[cfg(test)]
mod tests {
    use super::output_so_far;

    #[test]
    fn output_so_far_leaves_out_the_typed_line() {
        assert_eq!(output_so_far("$ for i in 1 2; do echo $i; sleep 9; done\n1\n2"), "1\n2\n");
        assert_eq!(output_so_far("$  printf 'X'; eval 'y'\nCTMUX-BEGIN-7\nout"), "out\n");
        assert_eq!(output_so_far("$ sleep 9"), "");
    }
}
