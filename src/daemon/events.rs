//! Where the daemon's events go: the state store (so `ctmux events` reads them later), the
//! daemon's log (one JSON line each), live `events -f` followers, and runtime subscriptions.

use tokio::sync::mpsc;

use crate::store::{Event, Query, Store, Subscription, kind_matches, target_matches};

/// The event sink; one per daemon.
pub struct Events {
    /// The tmux server key events are recorded under.
    pub server: String,
    /// The store; `None` when it cannot be opened (events then reach only the log).
    pub store: Option<Store>,
    followers: Vec<mpsc::Sender<String>>,
    /// Subscriptions as read at a store `data_version`.
    subscribed: Option<(Option<i64>, Vec<Subscription>)>,
}

/// Events a follower may fall behind by before it is dropped (it reconnects and catches up
/// from the store, so a paused `events -f` cannot grow the daemon's memory).
pub const FOLLOWER_BACKLOG: usize = 4096;

impl Events {
    /// A sink for server `server`.
    pub fn new(server: String) -> Events {
        let store = match Store::open() {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("ctmux daemon: {e}; events are written to this log only");
                None
            }
        };
        Events { server, store, followers: Vec::new(), subscribed: None }
    }

    /// Records and publishes one event; runs the subscriptions it matches.
    pub fn emit(&mut self, kind: &str, project: &str, address: &str, data: serde_json::Value) {
        let event = match self.store.as_ref().map(|s| s.record(&self.server, kind, project, address, data.clone())) {
            Some(Ok(e)) => e,
            other => {
                if let Some(Err(e)) = other {
                    eprintln!("ctmux daemon: {e}");
                }
                let (session, pane) = address.split_once('/').unwrap_or((address, ""));
                Event {
                    id: 0,
                    ts: crate::store::now_ms(),
                    kind: kind.into(),
                    project: project.into(),
                    session: session.into(),
                    pane: pane.into(),
                    address: (!pane.is_empty()).then(|| address.to_string()),
                    data,
                }
            }
        };
        let line = serde_json::to_string(&event).unwrap_or_default();
        println!("{line}");
        self.followers.retain(|f| f.try_send(line.clone()).is_ok());
        self.run_subscriptions(&event);
    }

    /// Sends stored events after `after_id` to `follower`, then every new one.
    pub fn follow(&mut self, after_id: i64, follower: mpsc::Sender<String>) {
        if let Some(store) = &self.store {
            let q = Query { after_id: Some(after_id), ..Query::default() };
            for e in store.events(&self.server, &q).unwrap_or_default() {
                if follower.try_send(serde_json::to_string(&e).unwrap_or_default()).is_err() {
                    return;
                }
            }
        }
        self.followers.push(follower);
    }

    /// Subscriptions of this server. `ctmux subscribe` writes the store directly; they are read
    /// again only after some other process committed to it (SQLite's `data_version`), not per
    /// event.
    pub fn subscriptions(&mut self) -> &[Subscription] {
        let Some(store) = &self.store else { return &[] };
        let version = store.data_version();
        let fresh = version.is_some() && self.subscribed.as_ref().is_some_and(|(v, _)| *v == version);
        if !fresh {
            self.subscribed = Some((version, store.subscriptions(&self.server).unwrap_or_default()));
        }
        self.subscribed.as_ref().map_or(&[], |(_, subs)| subs.as_slice())
    }

    fn run_subscriptions(&mut self, event: &Event) {
        if event.id == 0 {
            return;
        }
        for sub in self.subscriptions() {
            if wants(sub, event) {
                run_callback(sub, event);
            }
        }
    }
}

/// Whether subscription `sub` is for `event`.
pub fn wants(sub: &Subscription, event: &Event) -> bool {
    let kind = sub.event == "*" || kind_matches(&sub.event, &event.kind);
    let target = sub.target.as_deref().is_none_or(|t| target_matches(t, event));
    let pattern = sub.pattern.as_deref().is_none_or(|p| {
        let text = event.data.get("text").and_then(|t| t.as_str()).map(str::to_string);
        let text = text.unwrap_or_else(|| serde_json::to_string(event).unwrap_or_default());
        crate::manifest::reader::bounded_regex(p).is_ok_and(|re| re.is_match(&text))
    });
    kind && target && pattern
}

/// The environment a callback gets: the event's fields, and its data's scalar fields as
/// `CTMUX_DATA_<KEY>`.
pub fn callback_env(event: &Event) -> Vec<(String, String)> {
    let mut env = vec![
        ("CTMUX_EVENT".to_string(), event.kind.clone()),
        ("CTMUX_EVENT_ID".to_string(), event.id.to_string()),
        ("CTMUX_EVENT_TS".to_string(), event.ts.to_string()),
        ("CTMUX_PROJECT".to_string(), event.project.clone()),
        ("CTMUX_SESSION".to_string(), event.session.clone()),
        ("CTMUX_PANE".to_string(), event.address.clone().unwrap_or_default()),
    ];
    if let Some(map) = event.data.as_object() {
        for (k, v) in map {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => v.to_string(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            let key: String =
                k.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
            env.push((format!("CTMUX_DATA_{key}"), value));
        }
    }
    env
}

/// Runs a subscription's command with the event as env vars and JSON on stdin. A single
/// argument is a shell command line; several are an argv.
fn run_callback(sub: &Subscription, event: &Event) {
    let (program, args): (String, Vec<String>) = match sub.command.as_slice() {
        [] => return,
        [line] => ("/bin/sh".into(), vec!["-c".into(), line.clone()]),
        [p, rest @ ..] => (p.clone(), rest.to_vec()),
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .envs(callback_env(event))
        .env("CTMUX_SUBSCRIPTION", sub.id.to_string())
        .stdin(std::process::Stdio::piped());
    if std::path::Path::new(&sub.cwd).is_dir() {
        cmd.current_dir(&sub.cwd);
    }
    let json = serde_json::to_string(event).unwrap_or_default();
    let Ok(mut child) = cmd.spawn() else {
        eprintln!("ctmux daemon: subscription {}: cannot run {:?}", sub.id, sub.command);
        return;
    };
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(format!("{json}\n").as_bytes()).await;
        }
        let _ = child.wait().await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_filter_and_env_carries_the_event() {
        let event = Event {
            id: 7,
            ts: 1,
            kind: "pattern.matched".into(),
            project: "p".into(),
            session: "api".into(),
            pane: "web".into(),
            address: Some("api/web".into()),
            data: serde_json::json!({ "text": "FATAL: disk", "rule": "FATAL", "groups": {} }),
        };
        let sub = |event: &str, target: Option<&str>, pattern: Option<&str>| Subscription {
            id: 1,
            event: event.into(),
            target: target.map(str::to_string),
            pattern: pattern.map(str::to_string),
            command: vec!["true".into()],
            cwd: "/".into(),
            created: 0,
        };
        assert!(wants(&sub("pattern.matched", None, None), &event));
        assert!(wants(&sub("*", Some("api"), Some("disk$")), &event));
        assert!(!wants(&sub("pane.*", None, None), &event));
        assert!(!wants(&sub("pattern.matched", Some("db"), None), &event));
        assert!(!wants(&sub("pattern.matched", None, Some("^disk")), &event));
        let env = callback_env(&event);
        assert!(env.contains(&("CTMUX_DATA_TEXT".into(), "FATAL: disk".into())));
        assert!(env.contains(&("CTMUX_PANE".into(), "api/web".into())));
        assert!(env.contains(&("CTMUX_EVENT_ID".into(), "7".into())));
    }
}
