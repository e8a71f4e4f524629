//! `ctmux top`: a live full-screen table of the project's panes (or every pane of the server with
//! `--all-sessions`): state, health, CPU, memory, restarts, uptime and last output line.
//!
//! Where the data comes from: one look (`status --json`, or `pane ls --json` with
//! `--all-sessions`) at start and again only when the daemon reports an event (`events -f`);
//! CPU and memory are the daemon's samples in the state store, the last line is read from the
//! pane logs the daemon writes. With `--all-sessions` (panes of any project or none, whose
//! samples and logs `top` cannot key) CPU and memory are measured by `top` itself and the last
//! line is read from each pane's screen, in one tmux call per refresh. Nothing polls tmux per frame. Without a terminal, or with
//! `--once`/`--json`, one table (or document) is printed.

use std::io::IsTerminal;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::cli::args::TopArgs;
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;

/// One row of the table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Row {
    /// `session/pane`, or `session/%ID` for an unmanaged pane.
    pub address: String,
    /// tmux pane id.
    pub tmux_id: Option<String>,
    /// running | waiting | exited | missing | stopped.
    pub state: String,
    /// none | starting | healthy | unhealthy.
    pub health: String,
    /// CPU % of one core (daemon's latest sample).
    pub cpu_percent: Option<f64>,
    /// Resident memory in bytes (daemon's latest sample).
    pub memory_bytes: Option<u64>,
    /// Restarts by ctmux.
    pub restarts: u64,
    /// Unix seconds of the last start.
    pub started_at: Option<u64>,
    /// The last line the pane printed (from its log).
    pub last_line: String,
    /// The pane's process, for `--all-sessions`' own measurements.
    #[serde(skip)]
    pub pid: Option<u32>,
}

/// What the rows are sorted by (`s` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// By address.
    #[default]
    Address,
    /// Most CPU first.
    Cpu,
    /// Most memory first.
    Memory,
    /// Most restarts first.
    Restarts,
    /// Longest running first.
    Uptime,
}

impl Sort {
    /// The next key, for `s`.
    pub fn next(self) -> Sort {
        match self {
            Sort::Address => Sort::Cpu,
            Sort::Cpu => Sort::Memory,
            Sort::Memory => Sort::Restarts,
            Sort::Restarts => Sort::Uptime,
            Sort::Uptime => Sort::Address,
        }
    }

    /// Its name in the header.
    pub fn name(self) -> &'static str {
        match self {
            Sort::Address => "address",
            Sort::Cpu => "cpu",
            Sort::Memory => "mem",
            Sort::Restarts => "restarts",
            Sort::Uptime => "uptime",
        }
    }
}

/// The view model: rows, sort, filter and selection, with no terminal in it (tested alone).
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Every row.
    pub rows: Vec<Row>,
    /// Sort key.
    pub sort: Sort,
    /// Only rows whose address, state, health or last line contains this text.
    pub filter: String,
    /// Index into [`Model::visible`].
    pub selected: usize,
}

impl Model {
    /// Rows from a `status --json` or `pane ls --json` document.
    pub fn rows_from(doc: &Value) -> Vec<Row> {
        let panes = doc["panes"].as_array().cloned().unwrap_or_default();
        panes
            .iter()
            .map(|p| Row {
                address: p["address"].as_str().map(String::from).unwrap_or_else(|| {
                    format!("{}/{}", p["session"].as_str().unwrap_or(""), p["tmux_id"].as_str().unwrap_or(""))
                }),
                tmux_id: p["tmux_id"].as_str().map(String::from),
                state: p["state"].as_str().unwrap_or("").into(),
                health: p["health"].as_str().unwrap_or("none").into(),
                cpu_percent: p["cpu_percent"].as_f64(),
                memory_bytes: p["memory_bytes"].as_u64(),
                restarts: p["restarts"].as_u64().unwrap_or(0),
                started_at: p["started_at"].as_u64(),
                last_line: String::new(),
                pid: p["pid"].as_u64().and_then(|p| u32::try_from(p).ok()),
            })
            .collect()
    }

    /// Replaces the rows, keeping the selected pane selected and what only the refresh knows.
    pub fn replace(&mut self, mut rows: Vec<Row>) {
        let selected = self.selected_row().map(|r| r.address.clone());
        for r in &mut rows {
            if let Some(old) = self.rows.iter().find(|o| o.address == r.address) {
                r.last_line.clone_from(&old.last_line);
                r.cpu_percent = r.cpu_percent.or(old.cpu_percent);
                r.memory_bytes = r.memory_bytes.or(old.memory_bytes);
            }
        }
        self.rows = rows;
        if let Some(a) = selected
            && let Some(i) = self.visible().iter().position(|r| r.address == a)
        {
            self.selected = i;
        }
        self.clamp();
    }

    /// The rows shown, filtered and sorted.
    pub fn visible(&self) -> Vec<&Row> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| {
                needle.is_empty()
                    || [&r.address, &r.state, &r.health, &r.last_line]
                        .iter()
                        .any(|f| f.to_lowercase().contains(&needle))
            })
            .collect();
        match self.sort {
            Sort::Address => rows.sort_by(|a, b| a.address.cmp(&b.address)),
            Sort::Cpu => rows.sort_by(|a, b| b.cpu_percent.unwrap_or(-1.0).total_cmp(&a.cpu_percent.unwrap_or(-1.0))),
            Sort::Memory => rows.sort_by_key(|r| std::cmp::Reverse(r.memory_bytes)),
            Sort::Restarts => rows.sort_by_key(|r| std::cmp::Reverse(r.restarts)),
            Sort::Uptime => rows.sort_by_key(|r| r.started_at.unwrap_or(u64::MAX)),
        }
        rows
    }

    /// The selected row, if any.
    pub fn selected_row(&self) -> Option<&Row> {
        self.visible().get(self.selected).copied()
    }

    /// Moves the selection by `delta` rows.
    pub fn select(&mut self, delta: isize) {
        self.selected = self.selected.saturating_add_signed(delta);
        self.clamp();
    }

    fn clamp(&mut self) {
        let n = self.visible().len();
        self.selected = if n == 0 { 0 } else { self.selected.min(n - 1) };
    }

    /// The table's cells for a row, at time `now` (Unix seconds).
    pub fn cells(r: &Row, now: u64) -> [String; 8] {
        let running = r.state == "running";
        [
            r.address.clone(),
            r.state.clone(),
            r.health.clone(),
            r.cpu_percent.filter(|_| running).map_or("-".into(), |c| format!("{c:.1}")),
            r.memory_bytes.filter(|_| running).map_or("-".into(), crate::units::format_size_human),
            r.restarts.to_string(),
            r.started_at
                .filter(|_| running)
                .map_or("-".into(), |t| crate::units::format_duration(Duration::from_secs(now.saturating_sub(t)))),
            r.last_line.clone(),
        ]
    }

    /// The column titles.
    pub const HEADERS: [&'static str; 8] =
        ["ADDRESS", "STATE", "HEALTH", "CPU%", "MEM", "RESTARTS", "UPTIME", "LAST LINE"];

    /// The plain-text table (`--once`, no terminal).
    pub fn table(&self, now: u64) -> String {
        let rows: Vec<[String; 8]> = self.visible().iter().map(|r| Self::cells(r, now)).collect();
        let mut widths: Vec<usize> = Self::HEADERS.iter().map(|h| h.len()).collect();
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let mut out = String::new();
            for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                if i == cells.len() - 1 {
                    out += c;
                } else {
                    out += &format!("{c:<w$}  ");
                }
            }
            out.trim_end().to_string() + "\n"
        };
        let mut out = line(Self::HEADERS.to_vec());
        for r in &rows {
            out += &line(r.iter().map(String::as_str).collect());
        }
        out
    }
}

/// Runs `top`.
pub fn run(ctx: &Ctx, args: &TopArgs) -> Result {
    let mut model = Model::default();
    model.replace(Model::rows_from(&snapshot(ctx, args)?));
    let source = Source::new(ctx, args);
    refresh_extras(&source, &mut model);
    let now = crate::reconcile::build::now_secs();
    if ctx.json() {
        #[derive(Serialize)]
        struct Doc<'a> {
            panes: Vec<&'a Row>,
        }
        ctx.print_json(&Doc { panes: model.visible() });
        return Ok(Exit::Ok);
    }
    if args.once || !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        print!("{}", model.table(now));
        return Ok(Exit::Ok);
    }
    tui::run(ctx, args, &source, model)
}

/// The global flags to hand to a child `ctmux`.
fn global_args(ctx: &Ctx) -> Vec<String> {
    let g = &ctx.global;
    let mut out = Vec::new();
    for f in &g.file {
        out.extend(["--file".into(), f.display().to_string()]);
    }
    for p in &g.profile {
        out.extend(["--profile".into(), p.clone()]);
    }
    for f in &g.env_file {
        out.extend(["--env-file".into(), f.display().to_string()]);
    }
    if let Some(n) = &g.socket_name {
        out.extend(["-L".into(), n.clone()]);
    }
    if let Some(p) = &g.socket_path {
        out.extend(["-S".into(), p.display().to_string()]);
    }
    out
}

fn ctmux(ctx: &Ctx, args: &[&str]) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| "ctmux".into());
    let mut c = Command::new(exe);
    c.args(global_args(ctx)).args(args);
    c
}

/// One look at the panes, as `status --json` (or `pane ls --json`) gives it.
fn snapshot(ctx: &Ctx, args: &TopArgs) -> Result<Value> {
    let verb: &[&str] =
        if args.all_sessions { &["pane", "ls", "--all-sessions", "--json"] } else { &["status", "--json"] };
    let out = ctmux(ctx, verb)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::failed(format!("cannot run ctmux: {e}"), None))?;
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if !out.status.success() || doc.is_null() {
        let message = doc["error"]["message"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().trim_start_matches("Error: ").to_string());
        return Err(Error::failed(if message.is_empty() { "cannot read the panes".into() } else { message }, None));
    }
    Ok(doc)
}

/// Where the extras are read: the project (its name keys samples and logs) and the server key.
struct Source {
    project: Option<crate::manifest::model::Project>,
    server: String,
    /// The server's pane logs.
    socket: crate::tmux::Socket,
    /// `--all-sessions`: `top`'s own CPU sampler (a rate needs the previous look).
    sampler: std::cell::RefCell<Option<crate::metrics::Sampler>>,
}

impl Source {
    /// Loaded once: a manifest's warnings are printed before the screen is taken, not over it.
    fn new(ctx: &Ctx, args: &TopArgs) -> Source {
        let project = if args.all_sessions { None } else { super::load(ctx).ok().map(|l| l.project) };
        let socket = crate::tmux::Socket::choose(
            ctx.global.socket_name.as_deref(),
            ctx.global.socket_path.as_deref(),
            std::env::var("CTMUX_TMUX_SOCKET").ok().as_deref(),
            project.as_ref().and_then(|p| p.socket.as_deref()),
        );
        Source { project, server: socket.key(), socket, sampler: std::cell::RefCell::new(None) }
    }
}

/// `--all-sessions`: CPU and memory of each running pane's tree, measured here (the daemon's
/// samples are keyed by project), and the last non-blank line of each pane's screen.
fn refresh_unkeyed(source: &Source, model: &mut Model) {
    let mut sampler = source.sampler.borrow_mut();
    let sampler = sampler.get_or_insert_with(|| {
        let mut s = crate::metrics::Sampler::new();
        s.refresh();
        std::thread::sleep(Duration::from_millis(250));
        s
    });
    sampler.refresh();
    for r in model.rows.iter_mut().filter(|r| r.state == "running") {
        if let Some(u) = r.pid.and_then(|pid| sampler.usage(pid)) {
            r.cpu_percent = Some(u.cpu_percent);
            r.memory_bytes = Some(u.memory_bytes);
        }
    }
    let ids: Vec<String> = model.rows.iter().filter_map(|r| r.tmux_id.clone()).collect();
    let lines = super::stack::runtime()
        .ok()
        .and_then(|rt| rt.block_on(last_screen_lines(&crate::tmux::Tmux::new(source.socket.clone()), &ids)).ok())
        .unwrap_or_default();
    for r in &mut model.rows {
        if let Some(line) = r.tmux_id.as_ref().and_then(|id| lines.get(id)) {
            r.last_line.clone_from(line);
        }
    }
}

/// The last non-blank line on each pane's screen, by pane id, in one tmux call.
async fn last_screen_lines(
    tmux: &crate::tmux::Tmux,
    ids: &[String],
) -> std::result::Result<std::collections::HashMap<String, String>, crate::tmux::TmuxError> {
    const MARK: &str = "\x1fctmux-screen\x1f";
    let mut cmds = Vec::new();
    for id in ids {
        let mark = crate::tmux::command::message_literal(&format!("{MARK}{id}"));
        cmds.push(crate::tmux::Cmd::query("display-message").args(["-p", &mark]));
        cmds.push(crate::tmux::Cmd::query("capture-pane").args(["-p", "-J", "-t", id]));
    }
    if cmds.is_empty() {
        return Ok(Default::default());
    }
    let text = tmux.run(&cmds).await?;
    let mut out = std::collections::HashMap::new();
    for part in text.split(MARK).skip(1) {
        let (id, screen) = part.split_once('\n').unwrap_or((part, ""));
        let screen = crate::exec_marks::strip_lines(screen);
        if let Some(line) = screen.lines().rev().find(|l| !l.trim().is_empty()) {
            out.insert(id.to_string(), line.trim_end().to_string());
        }
    }
    Ok(out)
}

/// The daemon's latest samples (state store) and each pane's last logged line (pane logs).
fn refresh_extras(source: &Source, model: &mut Model) {
    if source.project.is_none() {
        return refresh_unkeyed(source, model);
    }
    let store = crate::store::Store::open().ok();
    let fresh = crate::store::now_ms() - 120_000;
    for r in &mut model.rows {
        let Some(project) = &source.project else { continue };
        if let Some(store) = &store
            && let Ok(Some((ts, u))) = store.latest_metrics(&source.server, &project.name, &r.address)
            && ts >= fresh
        {
            r.cpu_percent = Some(u.cpu_percent);
            r.memory_bytes = Some(u.memory_bytes);
        }
        if let Ok(path) = crate::daemon::paths::pane_log(&source.socket, &project.name, &r.address)
            && let Some(line) = crate::daemon::logfile::recent(&path, 0)
                .iter()
                .rev()
                .map(|l| crate::ansi::strip(String::from_utf8_lossy(&l.raw).trim_end()))
                .find(|l| !l.trim().is_empty())
        {
            r.last_line = line;
        }
    }
}

/// Starts `events -f --json` and sends a unit for each event line (the daemon pushes them).
fn follow_events(ctx: &Ctx) -> (Option<std::process::Child>, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    let child = ctmux(ctx, &["events", "-f", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return (None, rx) };
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                if line.is_err() || tx.send(()).is_err() {
                    return;
                }
            }
        });
    }
    (Some(child), rx)
}

mod tui {
    use super::*;
    use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
    use ratatui::layout::{Constraint, Layout};
    use ratatui::style::{Modifier, Style};
    use ratatui::widgets::{Cell, Paragraph, Row as TRow, Table, TableState};

    /// The full-screen loop.
    pub fn run(ctx: &Ctx, args: &TopArgs, source: &Source, mut model: Model) -> Result {
        let (mut follower, events) = follow_events(ctx);
        let mut terminal = ratatui::init();
        let mut editing = false;
        let mut message = String::new();
        let mut last_extras = Instant::now();
        let result = loop {
            let now = crate::reconcile::build::now_secs();
            let _ = terminal.draw(|f| draw(f, &model, editing, &message, now));
            if event::poll(Duration::from_millis(500)).unwrap_or(false)
                && let Ok(Event::Key(k)) = event::read()
                && k.kind == KeyEventKind::Press
            {
                if editing {
                    match k.code {
                        KeyCode::Enter => editing = false,
                        KeyCode::Esc => {
                            editing = false;
                            model.filter.clear();
                        }
                        KeyCode::Backspace => {
                            model.filter.pop();
                        }
                        KeyCode::Char(c) => model.filter.push(c),
                        _ => {}
                    }
                    model.select(0);
                    continue;
                }
                let target = model.selected_row().map(|r| r.address.clone());
                match k.code {
                    KeyCode::Char('q') | KeyCode::Esc => break Ok(Exit::Ok),
                    KeyCode::Down | KeyCode::Char('j') => model.select(1),
                    KeyCode::Up | KeyCode::Char('k') => model.select(-1),
                    KeyCode::Char('s') => model.sort = model.sort.next(),
                    KeyCode::Char('/') => editing = true,
                    KeyCode::Char(c @ ('r' | 'x' | 'S')) => {
                        if let Some(t) = target {
                            let verb = match c {
                                'r' => "restart",
                                'x' => "stop",
                                _ => "start",
                            };
                            let ok = ctmux(ctx, &["-q", verb, &t])
                                .stdin(Stdio::null())
                                .output()
                                .is_ok_and(|o| o.status.success());
                            message = format!("{verb} {t}: {}", if ok { "done" } else { "failed" });
                        }
                    }
                    KeyCode::Char(c @ ('l' | 'a')) => {
                        if let Some(t) = target {
                            // Leave the screen to the child, then come back.
                            ratatui::restore();
                            let verb: &[&str] = if c == 'l' { &["logs", "-f", "-n", "50"] } else { &["attach"] };
                            let mut argv: Vec<&str> = verb.to_vec();
                            argv.push(&t);
                            // Ctrl-C ends the child (`logs -f`), not the view: ignored here while
                            // it runs, the default again in the child.
                            let mut child = ctmux(ctx, &argv);
                            // SAFETY: signal(2) is async-signal-safe, as pre_exec requires.
                            unsafe {
                                use std::os::unix::process::CommandExt;
                                child.pre_exec(|| {
                                    libc::signal(libc::SIGINT, libc::SIG_DFL);
                                    Ok(())
                                });
                                libc::signal(libc::SIGINT, libc::SIG_IGN);
                            }
                            let _ = child.status();
                            // SAFETY: restores the default disposition of SIGINT for this process.
                            unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
                            terminal = ratatui::init();
                        }
                    }
                    _ => {}
                }
            }
            // A pushed event: look again (once for a burst).
            let mut changed = false;
            while events.try_recv().is_ok() {
                changed = true;
            }
            if changed && let Ok(doc) = snapshot(ctx, args) {
                model.replace(Model::rows_from(&doc));
            }
            if changed || last_extras.elapsed() >= Duration::from_secs(2) {
                refresh_extras(source, &mut model);
                last_extras = Instant::now();
            }
        };
        ratatui::restore();
        if let Some(child) = follower.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        result
    }

    fn draw(f: &mut ratatui::Frame, model: &Model, editing: bool, message: &str, now: u64) {
        let [head, body, foot] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1), Constraint::Length(1)]).areas(f.area());
        let visible = model.visible();
        f.render_widget(
            Paragraph::new(format!(
                "ctmux top — {} panes, sort: {}{}",
                visible.len(),
                model.sort.name(),
                if model.filter.is_empty() { String::new() } else { format!(", filter: {}", model.filter) }
            )),
            head,
        );
        let rows: Vec<TRow> = visible.iter().map(|r| TRow::new(Model::cells(r, now).map(Cell::from))).collect();
        let widths = [
            Constraint::Length(24),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Min(10),
        ];
        let table = Table::new(rows, widths)
            .header(TRow::new(Model::HEADERS.map(Cell::from)).style(Style::default().add_modifier(Modifier::BOLD)))
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
        let mut state = TableState::default().with_selected((!visible.is_empty()).then_some(model.selected));
        f.render_stateful_widget(table, body, &mut state);
        let help = if editing {
            format!("filter: {}▏ (Enter keeps, Esc clears)", model.filter)
        } else if !message.is_empty() {
            format!("{message} — q quit  ↑↓ select  s sort  / filter  r restart  x stop  S start  l logs  a attach")
        } else {
            "q quit  ↑↓ select  s sort  / filter  r restart  x stop  S start  l logs  a attach".to_string()
        };
        f.render_widget(Paragraph::new(help), foot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        let doc = serde_json::json!({ "panes": [
            { "address": "web/api", "tmux_id": "%10", "state": "running", "health": "healthy",
              "cpu_percent": 12.5, "memory_bytes": 1_048_576, "restarts": 2, "started_at": 100 },
            { "address": "db/pg", "tmux_id": "%2", "state": "running", "health": "none",
              "cpu_percent": 50.0, "memory_bytes": 10_485_760, "restarts": 0, "started_at": 50 },
            { "address": "jobs/seed", "tmux_id": "%11", "state": "exited", "health": "none",
              "restarts": 5, "started_at": 10 },
        ]});
        let mut m = Model::default();
        m.replace(Model::rows_from(&doc));
        m
    }

    fn order(m: &Model) -> Vec<&str> {
        m.visible().iter().map(|r| r.address.as_str()).collect()
    }

    #[test]
    fn top_sorts_by_each_key_and_filters_by_text() {
        let mut m = model();
        assert_eq!(order(&m), ["db/pg", "jobs/seed", "web/api"]);
        m.sort = m.sort.next();
        assert_eq!((m.sort, order(&m)), (Sort::Cpu, vec!["db/pg", "web/api", "jobs/seed"]));
        m.sort = m.sort.next();
        assert_eq!(order(&m), ["db/pg", "web/api", "jobs/seed"]);
        m.sort = m.sort.next();
        assert_eq!(order(&m), ["jobs/seed", "web/api", "db/pg"]);
        m.sort = m.sort.next();
        assert_eq!(order(&m), ["jobs/seed", "db/pg", "web/api"]);
        m.filter = "HEALTHY".into();
        assert_eq!(order(&m), ["web/api"]);
        m.filter = "exit".into();
        assert_eq!(order(&m), ["jobs/seed"]);
    }

    #[test]
    fn top_keeps_the_selected_pane_selected_when_rows_change() {
        let mut m = model();
        m.select(2);
        assert_eq!(m.selected_row().unwrap().address, "web/api");
        let mut rows = m.rows.clone();
        rows.insert(0, Row { address: "a/first".into(), state: "running".into(), ..Row::default() });
        m.replace(rows);
        assert_eq!(m.selected_row().unwrap().address, "web/api");
        m.select(10);
        assert_eq!(m.selected_row().unwrap().address, "web/api");
        m.filter = "nothing matches".into();
        m.select(0);
        assert!(m.selected_row().is_none());
    }

    #[test]
    fn top_table_shows_usage_only_for_running_panes() {
        let m = model();
        let t = m.table(160);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("ADDRESS"), "{t}");
        assert!(lines[1].starts_with("db/pg") && lines[1].contains("50.0") && lines[1].contains("1m50s"), "{t}");
        let seed = lines.iter().find(|l| l.starts_with("jobs/seed")).unwrap();
        assert!(seed.contains("exited") && !seed.contains("2m30s"), "{t}");
        assert_eq!(seed.split_whitespace().filter(|c| *c == "-").count(), 3, "{t}");
    }
}
