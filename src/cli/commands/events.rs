//! `ctmux events`, `subscribe`, `unsubscribe`: the daemon's event record, read from the state
//! store, followed live through the daemon, and acted on by runtime subscriptions.

use std::io::Write;

use super::daemon::socket;
use crate::cli::args::{EventsArgs, SubscribeArgs};
use crate::cli::{Ctx, Result};
use crate::daemon::client;
use crate::error::Error;
use crate::exit::Exit;
use crate::store::{Event, Query, Store};
use crate::tmux::{Socket, Tmux};

/// The event kinds the daemon records: the contract's, plus `pane.removed`, `pane.output` for
/// output subscriptions, `wait.timeout` from `pane wait`, `rule.dropped`, `pane.gave_up`, and
/// `watch.changed` / `watch.cascaded` from panes' `watch:`.
pub const KINDS: [&str; 18] = [
    "pane.started",
    "pane.exited",
    "pane.restarted",
    "pane.gave_up",
    "pane.removed",
    "pane.output",
    "wait.timeout",
    "pattern.matched",
    "health.changed",
    "limit.exceeded",
    "rule.dropped",
    "watch.changed",
    "watch.cascaded",
    "gc.collected",
    "log.refused",
    "snapshot.saved",
    "daemon.started",
    "daemon.stopped",
];

/// Checks an event filter: `*`, a kind, or a kind prefix (`pane`, `pane.*`).
fn check_kind(filter: &str) -> Result<()> {
    let ok = filter == "*" || KINDS.iter().any(|k| crate::store::kind_matches(filter, k));
    if ok {
        return Ok(());
    }
    Err(Error::Usage {
        message: format!("unknown event kind `{filter}`"),
        hint: crate::suggest::hint(filter, KINDS.iter().copied())
            .or_else(|| Some(format!("kinds: {}", KINDS.join(", ")))),
    })
}

/// Parses `--since`: a duration ago (`10m`), an RFC 3339 time, or Unix milliseconds.
pub fn parse_since(text: &str) -> Result<i64> {
    if let Ok(d) = crate::units::parse_duration(text) {
        return Ok(crate::store::now_ms() - d.as_millis() as i64);
    }
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    Err(Error::Usage {
        message: format!("--since `{text}`: not a duration or a time"),
        hint: Some("use a duration ago (`90s`, `10m`, `2h`) or a time (`2026-11-25T09:00:00Z`)".into()),
    })
}

/// A Unix-ms time in the local zone, to the millisecond.
pub fn format_ms(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.to_zoned_datetime(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        Err(_) => ms.to_string(),
    }
}

/// The project to filter on: the manifest's, when there is one.
fn project_filter(ctx: &Ctx) -> Option<String> {
    let options = super::compose_options(ctx).ok()?;
    crate::manifest::load_with(&options, &std::env::vars().collect()).ok().map(|l| l.project.name)
}

/// Starts the daemon for `socket` unless it runs; a missing tmux server is exit 5.
pub fn ensure_daemon(socket: &Socket) -> Result<()> {
    let tmux = Tmux::new(socket.clone());
    let rt = super::stack::runtime()?;
    rt.block_on(tmux.run(&[crate::tmux::Cmd::query("display-message").args(["-p", "#{pid}"])]))
        .map_err(|e| e.into_error("starting the daemon"))?;
    client::ensure_started(socket)?;
    Ok(())
}

/// Prints one event: a JSON line (`--json`), or a human line.
pub fn print_event(ctx: &Ctx, e: &Event) {
    if ctx.json() {
        ctx.print_json(e);
    } else {
        let who =
            e.address.clone().unwrap_or_else(|| if e.project.is_empty() { "-".into() } else { e.project.clone() });
        println!("{}  {:<16} {:<24} {}", format_ms(e.ts), e.kind, who, e.data);
    }
    let _ = std::io::stdout().flush();
}

/// Runs `events`.
pub fn run(ctx: &Ctx, args: &EventsArgs) -> Result {
    for k in &args.kind {
        check_kind(k)?;
    }
    let socket = socket(ctx);
    let server = socket.key();
    let query = Query {
        after_id: None,
        since_ms: args.since.as_deref().map(parse_since).transpose()?,
        kinds: args.kind.clone(),
        project: project_filter(ctx),
        targets: args.targets.clone(),
        limit: args.lines,
    };
    let store = Store::open()?;
    let last = store.last_id()?;
    let history: Vec<Event> = store.events(&server, &query)?.into_iter().filter(|e| e.id <= last).collect();
    if !args.follow {
        if ctx.json() {
            ctx.print_json(&serde_json::json!({ "events": history }));
        } else {
            for e in &history {
                print_event(ctx, e);
            }
        }
        return Ok(Exit::Ok);
    }
    // Like `docker compose events`, following starts now; `--since` or `-n` asks for history first.
    if args.since.is_some() || args.lines.is_some() {
        for e in &history {
            print_event(ctx, e);
        }
    }
    drop(store);
    ensure_daemon(&socket)?;
    let mut after = last;
    loop {
        let Some(feed) = client::follow(&socket, after)? else { break };
        for line in feed {
            let Ok(e) = serde_json::from_str::<Event>(&line) else { continue };
            after = after.max(e.id);
            if query.matches(&e) {
                print_event(ctx, &e);
            }
        }
        // The daemon went away: a new one may take over (it is restarted by `up`, or by hand).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while client::request(&socket, crate::daemon::protocol::Request::Status)?.is_none() {
            if std::time::Instant::now() > deadline {
                ctx.warn("the daemon stopped; no more events");
                return Ok(Exit::Ok);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    Ok(Exit::Ok)
}

/// Runs `subscribe` (and `subscribe --list`).
pub fn subscribe(ctx: &Ctx, args: &SubscribeArgs) -> Result {
    let socket = socket(ctx);
    let server = socket.key();
    let store = Store::open()?;
    if args.list {
        let subs = store.subscriptions(&server)?;
        if ctx.json() {
            ctx.print_json(&serde_json::json!({ "subscriptions": subs }));
        } else if subs.is_empty() {
            ctx.say("no subscriptions");
        } else {
            println!("{:>4}  {:<18} {:<14} {:<14} COMMAND", "ID", "EVENT", "TARGET", "MATCH");
            for s in subs {
                println!(
                    "{:>4}  {:<18} {:<14} {:<14} {}",
                    s.id,
                    s.event,
                    s.target.as_deref().unwrap_or("-"),
                    s.pattern.as_deref().unwrap_or("-"),
                    s.command.join(" ")
                );
            }
        }
        return Ok(Exit::Ok);
    }
    let Some(event) = args.event.as_deref() else {
        return Err(Error::Usage {
            message: "subscribe needs an EVENT and a command".into(),
            hint: Some("e.g. `ctmux subscribe pane.exited --target api -- notify-send crashed`".into()),
        });
    };
    check_kind(event)?;
    if args.target.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(super::target::empty_target());
    }
    if args.command.is_empty() {
        return Err(Error::Usage {
            message: "subscribe needs a command after `--`".into(),
            hint: Some(format!("ctmux subscribe {event} -- CMD [ARGS…]")),
        });
    }
    if let Some(p) = &args.pattern {
        crate::manifest::reader::bounded_regex(p)
            .map_err(|e| Error::Usage { message: format!("--match: {e}"), hint: None })?;
    }
    if event == "pane.output" && args.pattern.is_none() {
        return Err(Error::Usage {
            message: "a pane.output subscription needs --match RE (one event per matching line)".into(),
            hint: Some("e.g. `ctmux subscribe pane.output --target api --match 'ERROR' -- notify-send error`".into()),
        });
    }
    ensure_daemon(&socket)?;
    let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_else(|_| "/".into());
    let sub = store.subscribe(&server, event, args.target.as_deref(), args.pattern.as_deref(), &args.command, &cwd)?;
    // The daemon watches the sessions it targets from now on (attached before we return).
    client::request(&socket, crate::daemon::protocol::Request::Watch)?;
    if ctx.json() {
        ctx.print_json(&serde_json::json!({ "subscription": sub }));
    } else {
        ctx.say(format!("subscription {} on {event}", sub.id));
    }
    Ok(Exit::Ok)
}

/// Runs `unsubscribe ID`.
pub fn unsubscribe(ctx: &Ctx, id: i64) -> Result {
    let server = socket(ctx).key();
    let store = Store::open()?;
    if !store.unsubscribe(&server, id)? {
        let ids: Vec<String> = store.subscriptions(&server)?.iter().map(|s| s.id.to_string()).collect();
        return Err(Error::NotFound {
            message: format!("no subscription {id}"),
            hint: Some(if ids.is_empty() { "there are none".into() } else { format!("ids: {}", ids.join(", ")) }),
        });
    }
    if ctx.json() {
        ctx.print_json(&serde_json::json!({ "ok": true, "id": id }));
    } else {
        ctx.say(format!("subscription {id} removed"));
    }
    Ok(Exit::Ok)
}
