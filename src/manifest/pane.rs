//! Lowering of one pane: its command, process settings, health, restarts, limits and rules.

use std::time::Duration;

use indexmap::IndexMap;

use super::deps::{self, DeclaredDep};
use super::diagnostic::Problem;
use super::lower::Inherited;
use super::model::{Action, Check, Command, Health, LimitAction, Limits, Pane, Restart, Rule, Stop};
use super::node::{Node, NodeKind};
use super::reader::Reader;

/// Keys of a pane.
pub const PANE_KEYS: &[&str] = &[
    "command",
    "cwd",
    "env",
    "shell",
    "depends_on",
    "ready_when",
    "health",
    "restart",
    "max_restarts",
    "stop",
    "limits",
    "on",
    "metadata",
    "title",
    "options",
    "focus",
    "keep_shell",
    "job",
    "gc",
    "keep",
    "extends",
    "profiles",
    "replicas",
    "ports",
    "watch",
];
/// Keys of `health`.
pub const HEALTH_KEYS: &[&str] =
    &["exec", "http", "tcp", "log", "interval", "start_interval", "timeout", "retries", "start_period"];
/// Keys of `stop`.
pub const STOP_KEYS: &[&str] = &["signal", "timeout", "command"];
/// Keys of `limits`.
pub const LIMIT_KEYS: &[&str] = &["memory", "cpu", "action"];
/// Keys of one `on` rule.
pub const RULE_KEYS: &[&str] = &["match", "do", "cooldown", "once"];
/// Word actions of a rule's `do`.
pub const ACTION_WORDS: &[&str] = &["restart", "stop", "kill", "event"];
/// Keyed actions of a rule's `do`.
pub const ACTION_KEYS: &[&str] = &["signal", "send_keys", "run"];

/// Lowers a pane given as a string (command), a list (argv), null (a shell) or a map.
pub fn lower_pane(
    reader: &mut Reader<'_>,
    session: &str,
    window: &str,
    name: &str,
    node: &Node,
    outer: &Inherited,
    declared: &mut Vec<(String, DeclaredDep)>,
) -> Option<Pane> {
    let what = format!("pane `{session}/{name}`");
    let mut pane = Pane {
        name: name.into(),
        session: session.into(),
        window: window.into(),
        command: None,
        command_text: Default::default(),
        cwd: outer.cwd.clone(),
        env: outer.env.clone(),
        shell: outer.shell.clone(),
        depends_on: Vec::new(),
        ready_when: None,
        health: None,
        restart: Restart::No,
        max_restarts: None,
        stop: Stop::default(),
        limits: None,
        on: Vec::new(),
        metadata: IndexMap::new(),
        title: None,
        options: IndexMap::new(),
        focus: false,
        keep_shell: false,
        job: false,
        gc: Default::default(),
        watch: None,
    };
    let address = pane.address();
    let mut own_deps = outer.deps.clone();
    match &node.kind {
        NodeKind::Null => {}
        NodeKind::Scalar { .. } | NodeKind::Seq(_) => {
            pane.command = command(reader, node, &what);
            pane.command_text = super::model::ShownText(raw_text(node));
        }
        NodeKind::Map(_) => {
            let f = reader.fields(node, &what, PANE_KEYS)?;
            if let Some(n) = f.get("command") {
                pane.command = command(reader, n, &format!("{what}.command"));
                pane.command_text = super::model::ShownText(raw_text(n));
            }
            if let Some(n) = f.get("cwd")
                && let Some(s) = reader.string(n, "cwd")
            {
                pane.cwd = super::lower::resolve_path(&outer.cwd, &s);
            }
            if let Some(n) = f.get("env") {
                pane.env.extend(reader.env(n, &format!("{what}.env")).unwrap_or_default());
            }
            if let Some(s) = f.get("shell").and_then(|n| reader.string(n, "shell")) {
                pane.shell = s;
            }
            if let Some(n) = f.get("depends_on") {
                own_deps.extend(deps::declared(reader, n, &what));
            }
            if f.get("ports").is_some() {
                // Read (and checked) before lowering; the pane gets each as PORT_<NAME>.
                let own: Vec<(String, String)> =
                    reader.ports.iter().filter(|p| p.pane == address).map(|p| (p.var(), p.port.to_string())).collect();
                pane.env.extend(own);
            }
            pane.ready_when = f.get("ready_when").and_then(|n| reader.pattern(n, "ready_when"));
            pane.health = f.get("health").and_then(|n| health(reader, n, &what));
            if let Some(n) = f.get("restart") {
                pane.restart = restart(reader, n).unwrap_or_default();
            }
            pane.max_restarts = f.get("max_restarts").and_then(|n| reader.u32(n, "max_restarts"));
            if let Some(n) = f.get("stop") {
                pane.stop = stop(reader, n, &what);
            }
            pane.limits = f.get("limits").and_then(|n| limits(reader, n, &what));
            if let Some(n) = f.get("on") {
                pane.on = rules(reader, n, &what);
            }
            if let Some(n) = f.get("metadata") {
                pane.metadata = reader.env_like_metadata(n, &format!("{what}.metadata"));
            }
            pane.title = f.get("title").and_then(|n| reader.string(n, "title"));
            if let Some(n) = f.get("options") {
                pane.options = super::options::lower_options(reader, n, &what, super::options::Level::Pane);
            }
            pane.focus = f.get("focus").and_then(|n| reader.bool(n, "focus")).unwrap_or(false);
            pane.keep_shell = f.get("keep_shell").and_then(|n| reader.bool(n, "keep_shell")).unwrap_or(false);
            pane.job = f.get("job").and_then(|n| reader.bool(n, "job")).unwrap_or(false);
            pane.gc = super::lower::lower_gc_override(reader, &f, &what, super::lower::PANE_GC_KEYS);
            pane.watch = f.get("watch").and_then(|n| super::watch::lower_watch(reader, n, &what, &pane.cwd));
        }
    }
    // Interactive shells ignore SIGTERM; SIGHUP is what closing their terminal sends.
    let explicit_signal = matches!(&node.kind, NodeKind::Map(m) if m.iter().any(|(k, v)| k.name == "stop" && matches!(&v.kind, NodeKind::Map(s) if s.iter().any(|(k, _)| k.name == "signal"))));
    if (pane.keep_shell || pane.command.as_ref().is_none_or(interactive_shell)) && !explicit_signal {
        pane.stop.signal = "SIGHUP".into();
    }
    declared.extend(own_deps.into_iter().map(|d| (address.clone(), d)));
    Some(pane)
}

/// Whether `command` runs an interactive shell (`bash`, `[bash, -i]`, `sh -i`, `zsh -l`): a
/// shell named alone or with only options, none of them `-c` or a script. Such a shell ignores
/// SIGTERM, so its stop signal defaults to SIGHUP, what closing its terminal sends.
pub fn interactive_shell(command: &Command) -> bool {
    const SHELLS: [&str; 10] = ["sh", "bash", "zsh", "fish", "dash", "ksh", "mksh", "tcsh", "csh", "ash"];
    let words: Vec<&str> = match command {
        Command::Argv(words) => words.iter().map(String::as_str).collect(),
        Command::Shell(text) => text.split_whitespace().collect(),
    };
    let Some((program, options)) = words.split_first() else {
        return false;
    };
    let name = std::path::Path::new(program).file_name().and_then(|n| n.to_str()).unwrap_or("");
    SHELLS.contains(&name.trim_start_matches('-'))
        && options.iter().all(|o| {
            o.starts_with('-')
                && o.len() > 1
                && (o.starts_with("--") || !o[1..].contains('c'))
                && !matches!(*o, "--command" | "--init-command")
        })
}

/// A command's text as written (words of a list joined by spaces), not interpolated.
fn raw_text(node: &Node) -> Option<String> {
    // References stay as written (a secret's value is never shown); `$$` is shown as the `$` the
    // command gets.
    match &node.kind {
        NodeKind::Seq(items) => {
            Some(items.iter().filter_map(Node::as_scalar).map(|t| t.replace("$$", "$")).collect::<Vec<_>>().join(" "))
        }
        NodeKind::Scalar { text, .. } => Some(text.replace("$$", "$")),
        _ => None,
    }
}

fn command(reader: &mut Reader<'_>, node: &Node, what: &str) -> Option<Command> {
    match &node.kind {
        NodeKind::Seq(items) if items.is_empty() => {
            reader.problem(Problem::new(
                "invalid_value",
                node.span.clone(),
                format!("{what}: an argv command needs at least one word"),
                "empty list",
            ));
            None
        }
        NodeKind::Seq(_) => {
            reader.string_list(node, what).map(Command::Argv).filter(|c| fits_argv(reader, node, what, c))
        }
        NodeKind::Null => None,
        _ => reader.string(node, what).map(Command::Shell).filter(|c| fits_argv(reader, node, what, c)),
    }
}

/// Longest single argument Linux passes to a program (`MAX_ARG_STRLEN`, 32 pages).
pub const MAX_ARG_BYTES: usize = 128 * 1024;

/// Whether every word of `cmd` fits in one argument of execve(2); a problem when not (the pane
/// would die at once with "Argument list too long").
fn fits_argv(reader: &mut Reader<'_>, node: &Node, what: &str, cmd: &Command) -> bool {
    let longest = match cmd {
        Command::Shell(s) => s.len() + 16,
        Command::Argv(words) => words.iter().map(String::len).max().unwrap_or(0),
    };
    if longest < MAX_ARG_BYTES {
        return true;
    }
    reader.problem(
        Problem::new(
            "invalid_value",
            node.span.clone(),
            format!(
                "{what} is {longest} bytes; the kernel passes at most {} KiB in one argument",
                MAX_ARG_BYTES / 1024
            ),
            "too long",
        )
        .help("put the command in a script file and run that"),
    );
    false
}

fn restart(reader: &mut Reader<'_>, node: &Node) -> Option<Restart> {
    // YAML 1.2 reads `no` as a string, but a bare `false` should mean "no" too.
    if node.as_scalar() == Some("false") {
        return Some(Restart::No);
    }
    reader.choice(node, "restart", &Restart::NAMES).and_then(Restart::parse)
}

/// `health.exec`: one shell line. Compose's list form (`["CMD", "curl", "-f", URL]`) gets a
/// problem whose help is that line, written out.
fn exec_line(reader: &mut Reader<'_>, n: &Node) -> Option<String> {
    let NodeKind::Seq(items) = &n.kind else {
        return reader.string(n, "health.exec");
    };
    let words: Vec<&str> = items.iter().filter_map(Node::as_scalar).collect();
    let argv = match words.first() {
        Some(&"CMD") | Some(&"CMD-SHELL") => &words[1..],
        _ => &words[..],
    };
    let line = if words.first() == Some(&"CMD-SHELL") {
        argv.join(" ")
    } else {
        argv.iter().map(|w| crate::tmux::command::sh_quote(w)).collect::<Vec<_>>().join(" ")
    };
    reader.problem(
        Problem::new(
            "invalid_type",
            n.span.clone(),
            "health.exec is one shell command line, not a list (compose's `test:` form)",
            "a list",
        )
        .help(format!("write it as `exec: {line}`")),
    );
    None
}

fn health(reader: &mut Reader<'_>, node: &Node, what: &str) -> Option<Health> {
    let what = format!("{what}.health");
    let f = reader.fields(node, &what, HEALTH_KEYS)?;
    // Every value is read (and every mistake in it reported) before the check kind is: a bad
    // `interval` is said at once, not only after a missing check was added.
    let dur = |reader: &mut Reader<'_>, key: &str, default: Duration| {
        f.get(key).and_then(|n| reader.duration(n, &format!("health.{key}"))).unwrap_or(default)
    };
    let interval = dur(reader, "interval", Duration::from_secs(2));
    let start_interval = dur(reader, "start_interval", Duration::from_millis(250));
    let timeout = dur(reader, "timeout", Duration::from_secs(2));
    let retries = f.get("retries").and_then(|n| reader.u32(n, "health.retries")).unwrap_or(3);
    let start_period = dur(reader, "start_period", Duration::ZERO);
    let kinds: Vec<&str> = ["exec", "http", "tcp", "log"].into_iter().filter(|k| f.get(k).is_some()).collect();
    let check = match kinds.as_slice() {
        [] => {
            reader.problem(
                Problem::new(
                    "missing_key",
                    node.span.clone(),
                    format!("{what} needs one of exec, http, tcp or log"),
                    "no check",
                )
                .help("e.g. `http: http://127.0.0.1:8080/health` or `tcp: 127.0.0.1:5432`"),
            );
            return None;
        }
        [kind] => {
            let n = f.get(kind)?;
            match *kind {
                "exec" => Check::Exec(exec_line(reader, n)?),
                "http" => {
                    let url = reader.string(n, "health.http")?;
                    if !(url.starts_with("http://")) {
                        reader.problem(
                            Problem::new("invalid_value", n.span.clone(), format!("health.http: `{url}` is not an http:// URL"), "not an http URL")
                                .help("write a full URL such as http://127.0.0.1:8080/health (https is not probed; use exec with curl)"),
                        );
                        return None;
                    }
                    Check::Http(url)
                }
                "tcp" => {
                    let addr = reader.string(n, "health.tcp")?;
                    if !addr.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) {
                        reader.problem(
                            Problem::new(
                                "invalid_value",
                                n.span.clone(),
                                format!("health.tcp: `{addr}` is not host:port"),
                                "not host:port",
                            )
                            .help("e.g. `tcp: 127.0.0.1:5432`"),
                        );
                        return None;
                    }
                    Check::Tcp(addr)
                }
                _ => Check::Log(reader.pattern(n, "health.log")?),
            }
        }
        _ => {
            let second = f.key(kinds[1]).map_or(node.span.clone(), |k| k.span.clone());
            reader.problem(
                Problem::new(
                    "invalid_value",
                    second,
                    format!("{what} has more than one check ({})", kinds.join(", ")),
                    "second check",
                )
                .help("a health check probes one thing; keep one of exec, http, tcp, log"),
            );
            return None;
        }
    };
    Some(Health { check, interval, start_interval, timeout, retries, start_period })
}

fn stop(reader: &mut Reader<'_>, node: &Node, what: &str) -> Stop {
    let mut stop = Stop::default();
    let Some(f) = reader.fields(node, &format!("{what}.stop"), STOP_KEYS) else {
        return stop;
    };
    if let Some(s) = f.get("signal").and_then(|n| reader.signal(n, "stop.signal")) {
        stop.signal = s;
    }
    if let Some(d) = f.get("timeout").and_then(|n| reader.duration(n, "stop.timeout")) {
        stop.timeout = d;
    }
    stop.command = f.get("command").and_then(|n| reader.string(n, "stop.command"));
    stop
}

fn limits(reader: &mut Reader<'_>, node: &Node, what: &str) -> Option<Limits> {
    let f = reader.fields(node, &format!("{what}.limits"), LIMIT_KEYS)?;
    let memory = f.get("memory").and_then(|n| reader.size(n, "limits.memory"));
    let cpu = f.get("cpu").and_then(|n| reader.cpu(n, "limits.cpu"));
    let action = match f.get("action").and_then(|n| reader.choice(n, "limits.action", &LimitAction::NAMES)) {
        Some("restart") => LimitAction::Restart,
        Some("kill") => LimitAction::Kill,
        _ => LimitAction::Warn,
    };
    Some(Limits { memory, cpu, action })
}

fn rules(reader: &mut Reader<'_>, node: &Node, what: &str) -> Vec<Rule> {
    let NodeKind::Seq(items) = &node.kind else {
        reader.problem(
            Problem::new(
                "invalid_type",
                node.span.clone(),
                format!("{what}.on must be a list of rules, found {}", node.kind_name()),
                "expected a list",
            )
            .help("e.g.\non:\n  - match: 'panic'\n    do: restart"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Some(f) = reader.fields(item, &format!("a rule of {what}"), RULE_KEYS) else {
            continue;
        };
        let pattern = match f.get("match") {
            Some(n) => reader.pattern(n, "on.match"),
            None => {
                reader.problem(
                    Problem::new("missing_key", item.span.clone(), "a rule needs `match`", "no `match`")
                        .help("add `match: 'regex'`"),
                );
                None
            }
        };
        let action = match f.get("do") {
            Some(n) => action(reader, n),
            None => {
                reader.problem(
                    Problem::new("missing_key", item.span.clone(), "a rule needs `do`", "no `do`")
                        .help("add e.g. `do: restart`"),
                );
                None
            }
        };
        let cooldown = f.get("cooldown").and_then(|n| reader.duration(n, "on.cooldown"));
        let once = f.get("once").and_then(|n| reader.bool(n, "on.once")).unwrap_or(false);
        if let (Some(pattern), Some(action)) = (pattern, action) {
            out.push(Rule { pattern, action, cooldown, once });
        }
    }
    out
}

fn action(reader: &mut Reader<'_>, node: &Node) -> Option<Action> {
    if let NodeKind::Scalar { .. } = node.kind {
        return match reader.choice(node, "on.do", ACTION_WORDS)? {
            "restart" => Some(Action::Restart),
            "stop" => Some(Action::Stop),
            "kill" => Some(Action::Kill),
            _ => Some(Action::Event),
        };
    }
    let f = reader.fields(node, "on.do", ACTION_KEYS)?;
    if let Some(n) = f.get("signal") {
        return reader.signal(n, "on.do.signal").map(Action::Signal);
    }
    if let Some(n) = f.get("send_keys") {
        return reader.string(n, "on.do.send_keys").map(Action::SendKeys);
    }
    if let Some(n) = f.get("run") {
        return reader.string(n, "on.do.run").map(Action::Run);
    }
    reader.problem(
        Problem::new("missing_key", node.span.clone(), "on.do needs an action", "empty action")
            .help("use restart, stop, kill, event, or a map: `signal: SIGTERM`, `send_keys: C-c`, `run: cmd`"),
    );
    None
}

impl Reader<'_> {
    /// Metadata: a map of scalar values, read like `env` but without name rules.
    pub fn env_like_metadata(&mut self, node: &Node, what: &str) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        for (key, value) in self.entries(node, what).unwrap_or_default() {
            if let Some(v) = self.string(value, &format!("{what}.{}", key.name)) {
                out.insert(key.name.clone(), v);
            }
        }
        out
    }
}

#[cfg(test)]
mod shell_tests {
    use super::interactive_shell;
    use crate::manifest::model::Command;

    fn argv(words: &[&str]) -> Command {
        Command::Argv(words.iter().map(|w| w.to_string()).collect())
    }

    #[test]
    fn a_shell_with_only_options_is_interactive() {
        assert!(interactive_shell(&argv(&["bash", "-i"])));
        assert!(interactive_shell(&argv(&["/bin/sh", "-i"])));
        assert!(interactive_shell(&argv(&["zsh"])));
        assert!(interactive_shell(&Command::Shell("bash --login".into())));
        assert!(!interactive_shell(&argv(&["bash", "-c", "make"])));
        assert!(!interactive_shell(&argv(&["bash", "-ic", "make"])));
        assert!(!interactive_shell(&argv(&["sh", "script.sh"])));
        assert!(!interactive_shell(&Command::Shell("python3 -i".into())));
        assert!(!interactive_shell(&Command::Shell("bash -c 'sleep 1'".into())));
    }
}
