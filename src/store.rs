//! The state store (docs/architecture.md): one SQLite database under the state directory holding every event,
//! runtime subscriptions and runtime groups (each of one tmux server). WAL mode, so the daemon writes while CLIs read, and a
//! crash at any point leaves a readable database; the schema is versioned (`PRAGMA user_version`)
//! and upgraded by the migrations below, in order, each in its own transaction.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// Schema migrations; entry `i` upgrades version `i` to `i + 1`. Append only: never edit one.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts INTEGER NOT NULL,
        server TEXT NOT NULL,
        kind TEXT NOT NULL,
        project TEXT NOT NULL,
        session TEXT NOT NULL,
        pane TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX events_ts ON events (ts);
    CREATE INDEX events_kind ON events (kind, ts);
    CREATE TABLE subscriptions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        server TEXT NOT NULL,
        event TEXT NOT NULL,
        target TEXT,
        pattern TEXT,
        command TEXT NOT NULL,
        cwd TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE TABLE groups (
        name TEXT PRIMARY KEY,
        members TEXT NOT NULL
    );
",
    "
    CREATE TABLE metrics (
        ts INTEGER NOT NULL,
        server TEXT NOT NULL,
        project TEXT NOT NULL,
        session TEXT NOT NULL,
        pane TEXT NOT NULL,
        usage TEXT NOT NULL
    );
    CREATE INDEX metrics_pane ON metrics (project, session, pane, ts);
",
    // Runtime groups belong to one tmux server (its socket key), like subscriptions: a group made
    // on `-L a` is not shown or run on `-L b`. Groups from before had no server; tmux's default
    // server is where they were most likely made.
    "
    CREATE TABLE groups_by_server (
        server TEXT NOT NULL,
        name TEXT NOT NULL,
        members TEXT NOT NULL,
        PRIMARY KEY (server, name)
    );
    INSERT INTO groups_by_server (server, name, members) SELECT 'default', name, members FROM groups;
    DROP TABLE groups;
    ALTER TABLE groups_by_server RENAME TO groups;
",
    // How far the daemon has processed each pane log (by path, which names the tmux server):
    // a restarted daemon resumes there, so no line is acted on twice or skipped.
    "
    CREATE TABLE log_offsets (
        path TEXT PRIMARY KEY,
        inode INTEGER NOT NULL,
        offset INTEGER NOT NULL
    );
",
    // `ports: {NAME: auto}`: the port each project on each tmux server was given, kept until
    // its `down` so it is stable across `up`s; its own table, touched by nothing else.
    "
    CREATE TABLE ports (
        server TEXT NOT NULL,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        port INTEGER NOT NULL,
        PRIMARY KEY (server, project, name)
    );
    CREATE UNIQUE INDEX ports_port ON ports (port);
",
];

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("state store {path}: {source}")]
    Sql {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        source: rusqlite::Error,
    },
    /// The state directory cannot be created.
    #[error("cannot create the state directory: {0}")]
    Dir(std::io::Error),
    /// A newer ctmux upgraded the store.
    #[error("state store {path} has schema version {found}; this ctmux knows up to {known}")]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Ours.
        known: i64,
    },
}

impl From<StoreError> for crate::error::Error {
    fn from(e: StoreError) -> Self {
        crate::error::Error::failed(e.to_string(), None)
    }
}

/// One recorded event, in the shape docs/cli.md gives for events.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// Increasing id: `events -f` resumes after it.
    pub id: i64,
    /// Unix time in milliseconds.
    pub ts: i64,
    /// `pane.started`, `pattern.matched`, …
    pub kind: String,
    /// Project name ("" for daemon-wide events).
    pub project: String,
    /// Session name ("" when not about a pane).
    pub session: String,
    /// Pane name ("" when not about a pane).
    pub pane: String,
    /// `session/pane`, or null.
    pub address: Option<String>,
    /// Kind-specific details.
    pub data: serde_json::Value,
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only after this id.
    pub after_id: Option<i64>,
    /// Only at or after this time (ms).
    pub since_ms: Option<i64>,
    /// Only these kinds (a trailing `*` or `.` matches a prefix: `pane.*`).
    pub kinds: Vec<String>,
    /// Only these projects.
    pub project: Option<String>,
    /// Only events whose address, session or pane matches one of these.
    pub targets: Vec<String>,
    /// At most this many (the newest).
    pub limit: Option<usize>,
}

impl Query {
    /// Whether `e` passes the filters other than id/time/limit (also used on live events).
    pub fn matches(&self, e: &Event) -> bool {
        let kind_ok = self.kinds.is_empty() || self.kinds.iter().any(|k| kind_matches(k, &e.kind));
        let project_ok = self.project.as_deref().is_none_or(|p| e.project.is_empty() || p == e.project);
        let target_ok = self.targets.is_empty() || self.targets.iter().any(|t| target_matches(t, e));
        kind_ok && project_ok && target_ok && self.after_id.is_none_or(|a| e.id > a)
    }
}

/// `pane.*`, `pane.` and `pane` select every `pane.…` kind; anything else is exact.
pub fn kind_matches(filter: &str, kind: &str) -> bool {
    let prefix = filter.trim_end_matches('*').trim_end_matches('.');
    kind == filter || kind == prefix || kind.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.'))
}

/// A target is a session, `session/pane`, or a bare pane name.
pub fn target_matches(target: &str, e: &Event) -> bool {
    match target.split_once('/') {
        Some((s, p)) => e.session == s && e.pane == p,
        None => e.session == target || e.pane == target,
    }
}

/// A runtime subscription: run `command` on every matching event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Subscription {
    /// Id for `unsubscribe`.
    pub id: i64,
    /// Event kind filter (see [`kind_matches`]).
    pub event: String,
    /// Only events of this target.
    pub target: Option<String>,
    /// Only events whose JSON (or matched text) matches this regex.
    #[serde(rename = "match")]
    pub pattern: Option<String>,
    /// argv to run.
    pub command: Vec<String>,
    /// Where to run it.
    pub cwd: String,
    /// When it was made (ms).
    pub created: i64,
}

/// The open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    (crate::reconcile::build::now_nanos() / 1_000_000) as i64
}

impl Store {
    /// The database file.
    pub fn path() -> PathBuf {
        crate::state::dir().join("ctmux.db")
    }

    /// Opens (creating and migrating) the store.
    pub fn open() -> Result<Store, StoreError> {
        crate::state::subdir("").map_err(StoreError::Dir)?;
        Store::open_at(Store::path())
    }

    /// Opens (creating and migrating) the store at `path`.
    pub fn open_at(path: PathBuf) -> Result<Store, StoreError> {
        let sql = |source| StoreError::Sql { path: path.clone(), source };
        // Never through a symlink (a planted `ctmux.db -> elsewhere`).
        let flags = rusqlite::OpenFlags::default() | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(&path, flags).map_err(sql)?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        conn.busy_timeout(Duration::from_secs(10)).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(sql)?;
        let mut store = Store { conn, path };
        store.migrate()?;
        Ok(store)
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sql { path: self.path.clone(), source }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = MIGRATIONS.len() as i64;
        loop {
            // Two processes may race to migrate: the write lock of an immediate transaction
            // serializes them, and the version is read again under it.
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| StoreError::Sql { path: self.path.clone(), source: e })?;
            let version: i64 = tx
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|e| StoreError::Sql { path: self.path.clone(), source: e })?;
            if version > known {
                return Err(StoreError::TooNew { path: self.path.clone(), found: version, known });
            }
            if version == known {
                return Ok(());
            }
            let step = MIGRATIONS[version as usize];
            tx.execute_batch(step).map_err(|e| StoreError::Sql { path: self.path.clone(), source: e })?;
            tx.pragma_update(None, "user_version", version + 1)
                .map_err(|e| StoreError::Sql { path: self.path.clone(), source: e })?;
            tx.commit().map_err(|e| StoreError::Sql { path: self.path.clone(), source: e })?;
        }
    }

    /// The ports allocated to `project` on `server` (`ports: {NAME: auto}`), by name.
    pub fn ports(&self, server: &str, project: &str) -> Result<Vec<(String, u16)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, port FROM ports WHERE server = ?1 AND project = ?2 ORDER BY name")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![server, project], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u16>(1)?)))
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.sql(e))
    }

    /// Gives each of `names` a port for `project` on `server`: the one it has, else a port free
    /// now (the kernel's pick, on 127.0.0.1) that no other project holds. Ports of names no
    /// longer asked for are released. One transaction: concurrent `up`s never share a port.
    pub fn claim_ports(
        &mut self,
        server: &str,
        project: &str,
        names: &[String],
    ) -> Result<Vec<(String, u16)>, StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sql { path: path.clone(), source };
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sql)?;
        let held: Vec<(String, u16)> = {
            let mut stmt =
                tx.prepare("SELECT name, port FROM ports WHERE server = ?1 AND project = ?2").map_err(sql)?;
            let rows = stmt
                .query_map(params![server, project], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u16>(1)?)))
                .map_err(sql)?;
            rows.collect::<Result<_, _>>().map_err(sql)?
        };
        for (name, _) in held.iter().filter(|(n, _)| !names.contains(n)) {
            tx.execute(
                "DELETE FROM ports WHERE server = ?1 AND project = ?2 AND name = ?3",
                params![server, project, name],
            )
            .map_err(sql)?;
        }
        let mut out = Vec::new();
        for name in names {
            if let Some((_, port)) = held.iter().find(|(n, _)| n == name) {
                out.push((name.clone(), *port));
                continue;
            }
            let mut chosen = None;
            // The kernel hands out a free port; one another project holds (its server may be
            // down right now) is skipped.
            for _ in 0..64 {
                let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", 0)) else { break };
                let Ok(port) = listener.local_addr().map(|a| a.port()) else { break };
                let taken: bool = tx
                    .query_row("SELECT EXISTS(SELECT 1 FROM ports WHERE port = ?1)", params![port], |r| r.get(0))
                    .map_err(sql)?;
                if !taken {
                    chosen = Some(port);
                    break;
                }
            }
            let Some(port) = chosen else {
                return Err(StoreError::Sql { path: path.clone(), source: rusqlite::Error::InvalidQuery });
            };
            tx.execute(
                "INSERT INTO ports (server, project, name, port) VALUES (?1, ?2, ?3, ?4)",
                params![server, project, name, port],
            )
            .map_err(sql)?;
            out.push((name.clone(), port));
        }
        tx.commit().map_err(sql)?;
        Ok(out)
    }

    /// Releases every port of `project` on `server` (its `down`).
    pub fn release_ports(&self, server: &str, project: &str) -> Result<usize, StoreError> {
        self.conn
            .execute("DELETE FROM ports WHERE server = ?1 AND project = ?2", params![server, project])
            .map_err(|e| self.sql(e))
    }

    /// Changes whenever another connection commits (e.g. `ctmux subscribe`), so a reader can
    /// keep what it read until then.
    pub fn data_version(&self) -> Option<i64> {
        self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)).ok()
    }

    /// The schema version in use.
    pub fn version(&self) -> Result<i64, StoreError> {
        self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| self.sql(e))
    }

    /// Records an event of tmux server `server`; returns it with its id.
    pub fn record(
        &self,
        server: &str,
        kind: &str,
        project: &str,
        address: &str,
        data: serde_json::Value,
    ) -> Result<Event, StoreError> {
        let ts = now_ms();
        let (session, pane) = address.split_once('/').unwrap_or((address, ""));
        self.conn
            .execute(
                "INSERT INTO events (ts, server, kind, project, session, pane, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![ts, server, kind, project, session, pane, data.to_string()],
            )
            .map_err(|e| self.sql(e))?;
        Ok(Event {
            id: self.conn.last_insert_rowid(),
            ts,
            kind: kind.to_string(),
            project: project.to_string(),
            session: session.to_string(),
            pane: pane.to_string(),
            address: (!pane.is_empty()).then(|| address.to_string()),
            data,
        })
    }

    /// Events of `server` passing `q`, oldest first.
    pub fn events(&self, server: &str, q: &Query) -> Result<Vec<Event>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, ts, kind, project, session, pane, data FROM events
                 WHERE server = ?1 AND id > ?2 AND ts >= ?3 ORDER BY id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![server, q.after_id.unwrap_or(0), q.since_ms.unwrap_or(0)], |r| {
                let session: String = r.get(4)?;
                let pane: String = r.get(5)?;
                let data: String = r.get(6)?;
                Ok(Event {
                    id: r.get(0)?,
                    ts: r.get(1)?,
                    kind: r.get(2)?,
                    project: r.get(3)?,
                    address: (!pane.is_empty()).then(|| format!("{session}/{pane}")),
                    session,
                    pane,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                })
            })
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for row in rows {
            let e = row.map_err(|e| self.sql(e))?;
            if q.matches(&e) {
                out.push(e);
            }
        }
        if let Some(n) = q.limit {
            out = out.split_off(out.len().saturating_sub(n));
        }
        Ok(out)
    }

    /// `(kind, session, pane, data)` of `project`'s events of `kinds` on `server`, oldest first
    /// (by the `kind` index: `up` asks which completed jobs GC removed).
    pub fn kinds_of(
        &self,
        server: &str,
        project: &str,
        kinds: &[&str],
    ) -> Result<Vec<(String, String, String, serde_json::Value)>, StoreError> {
        let mut out = Vec::new();
        for kind in kinds {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT id, kind, session, pane, data FROM events
                     WHERE kind = ?1 AND server = ?2 AND project = ?3 ORDER BY id",
                )
                .map_err(|e| self.sql(e))?;
            let rows = stmt
                .query_map(params![kind, server, project], |r| {
                    let data: String = r.get(4)?;
                    Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, data))
                })
                .map_err(|e| self.sql(e))?;
            for row in rows {
                let (id, kind, session, pane, data) = row.map_err(|e| self.sql(e))?;
                out.push((id, (kind, session, pane, serde_json::from_str(&data).unwrap_or(serde_json::Value::Null))));
            }
        }
        out.sort_by_key(|(id, _)| *id);
        Ok(out.into_iter().map(|(_, e)| e).collect())
    }

    /// The newest event id (0 when there is none).
    pub fn last_id(&self) -> Result<i64, StoreError> {
        self.conn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0)).map_err(|e| self.sql(e))
    }

    /// Deletes `project`'s events older than `cutoff_ms`; returns how many.
    pub fn prune_events(&self, project: &str, cutoff_ms: i64) -> Result<usize, StoreError> {
        self.conn
            .execute("DELETE FROM events WHERE project = ?1 AND ts < ?2", params![project, cutoff_ms])
            .map_err(|e| self.sql(e))
    }

    /// Records one metrics sample of pane `address` of `project`.
    pub fn record_metrics(
        &self,
        server: &str,
        project: &str,
        address: &str,
        usage: &crate::metrics::Usage,
    ) -> Result<(), StoreError> {
        let (session, pane) = address.split_once('/').unwrap_or((address, ""));
        self.conn
            .execute(
                "INSERT INTO metrics (ts, server, project, session, pane, usage) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![now_ms(), server, project, session, pane, serde_json::to_string(usage).unwrap_or_default()],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// Samples of pane `address` of `project` since `since_ms`, oldest first: `(ts, usage)`.
    pub fn metrics(
        &self,
        server: &str,
        project: &str,
        address: &str,
        since_ms: i64,
    ) -> Result<Vec<(i64, crate::metrics::Usage)>, StoreError> {
        let (session, pane) = address.split_once('/').unwrap_or((address, ""));
        let mut stmt = self
            .conn
            .prepare(
                "SELECT ts, usage FROM metrics WHERE project = ?1 AND session = ?2 AND pane = ?3 AND ts >= ?4
                 AND server = ?5 ORDER BY ts",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![project, session, pane, since_ms, server], |r| {
                let usage: String = r.get(1)?;
                Ok((r.get::<_, i64>(0)?, serde_json::from_str(&usage).unwrap_or_default()))
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// The newest sample of pane `address` of `project`, if any.
    pub fn latest_metrics(
        &self,
        server: &str,
        project: &str,
        address: &str,
    ) -> Result<Option<(i64, crate::metrics::Usage)>, StoreError> {
        let (session, pane) = address.split_once('/').unwrap_or((address, ""));
        self.conn
            .query_row(
                "SELECT ts, usage FROM metrics WHERE project = ?1 AND session = ?2 AND pane = ?3 AND server = ?4
                 ORDER BY ts DESC LIMIT 1",
                params![project, session, pane, server],
                |r| {
                    let usage: String = r.get(1)?;
                    Ok((r.get::<_, i64>(0)?, serde_json::from_str(&usage).unwrap_or_default()))
                },
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Deletes `project`'s metrics samples older than `cutoff_ms`.
    pub fn prune_metrics(&self, project: &str, cutoff_ms: i64) -> Result<usize, StoreError> {
        self.conn
            .execute("DELETE FROM metrics WHERE project = ?1 AND ts < ?2", params![project, cutoff_ms])
            .map_err(|e| self.sql(e))
    }

    /// Adds a subscription for `server`; returns it.
    pub fn subscribe(
        &self,
        server: &str,
        event: &str,
        target: Option<&str>,
        pattern: Option<&str>,
        command: &[String],
        cwd: &str,
    ) -> Result<Subscription, StoreError> {
        let created = now_ms();
        let argv = serde_json::to_string(command).unwrap_or_default();
        self.conn
            .execute(
                "INSERT INTO subscriptions (server, event, target, pattern, command, cwd, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![server, event, target, pattern, argv, cwd, created],
            )
            .map_err(|e| self.sql(e))?;
        Ok(Subscription {
            id: self.conn.last_insert_rowid(),
            event: event.into(),
            target: target.map(str::to_string),
            pattern: pattern.map(str::to_string),
            command: command.to_vec(),
            cwd: cwd.into(),
            created,
        })
    }

    /// Removes subscription `id` of `server`; returns whether it existed.
    pub fn unsubscribe(&self, server: &str, id: i64) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM subscriptions WHERE id = ?1 AND server = ?2", params![id, server])
            .map_err(|e| self.sql(e))?;
        Ok(n > 0)
    }

    /// Every subscription of `server`.
    pub fn subscriptions(&self, server: &str) -> Result<Vec<Subscription>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, event, target, pattern, command, cwd, created FROM subscriptions
                 WHERE server = ?1 ORDER BY id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![server], |r| {
                let argv: String = r.get(4)?;
                Ok(Subscription {
                    id: r.get(0)?,
                    event: r.get(1)?,
                    target: r.get(2)?,
                    pattern: r.get(3)?,
                    command: serde_json::from_str(&argv).unwrap_or_default(),
                    cwd: r.get(5)?,
                    created: r.get(6)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Runtime groups of tmux server `server`: name → members.
    pub fn groups(&self, server: &str) -> Result<std::collections::BTreeMap<String, Vec<String>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, members FROM groups WHERE server = ?1 ORDER BY name")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![server], |r| {
                let members: String = r.get(1)?;
                Ok((r.get::<_, String>(0)?, serde_json::from_str(&members).unwrap_or_default()))
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Sets (or, with `None`, deletes) group `name` of tmux server `server`.
    pub fn set_group(&self, server: &str, name: &str, members: Option<&[String]>) -> Result<(), StoreError> {
        match members {
            Some(m) => self.conn.execute(
                "INSERT INTO groups (server, name, members) VALUES (?1, ?2, ?3)
                 ON CONFLICT (server, name) DO UPDATE SET members = excluded.members",
                params![server, name, serde_json::to_string(m).unwrap_or_default()],
            ),
            None => self.conn.execute("DELETE FROM groups WHERE server = ?1 AND name = ?2", params![server, name]),
        }
        .map(|_| ())
        .map_err(|e| self.sql(e))
    }

    /// Where the daemon stopped processing the pane log at `path`: (inode, byte offset).
    pub fn log_offset(&self, path: &str) -> Result<Option<(u64, u64)>, StoreError> {
        self.conn
            .query_row("SELECT inode, offset FROM log_offsets WHERE path = ?1", params![path], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Records processed positions (path, inode, offset) in one transaction.
    pub fn set_log_offsets(&self, positions: &[(String, u64, u64)]) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.sql(e))?;
        for (path, inode, offset) in positions {
            tx.execute(
                "INSERT INTO log_offsets (path, inode, offset) VALUES (?1, ?2, ?3)
                 ON CONFLICT (path) DO UPDATE SET inode = excluded.inode, offset = excluded.offset",
                params![path, *inode as i64, *offset as i64],
            )
            .map_err(|e| self.sql(e))?;
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Forgets the positions of logs under `dir` (their files were removed).
    pub fn forget_log_offsets(&self, dir: &str) -> Result<usize, StoreError> {
        let prefix = format!("{}/%", dir.trim_end_matches('/'));
        self.conn.execute("DELETE FROM log_offsets WHERE path LIKE ?1", params![prefix]).map_err(|e| self.sql(e))
    }

    /// One group's members on tmux server `server`, if it exists.
    pub fn group(&self, server: &str, name: &str) -> Result<Option<Vec<String>>, StoreError> {
        self.conn
            .query_row("SELECT members FROM groups WHERE server = ?1 AND name = ?2", params![server, name], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map(|m| m.map(|m| serde_json::from_str(&m).unwrap_or_default()))
            .map_err(|e| self.sql(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_targets_filter() {
        assert!(kind_matches("pane.*", "pane.exited"));
        assert!(kind_matches("pane", "pane.exited"));
        assert!(kind_matches("pane.exited", "pane.exited"));
        assert!(!kind_matches("pane.exited", "pane.started"));
        assert!(!kind_matches("pan", "pane.exited"));
        let e = Event {
            id: 1,
            ts: 0,
            kind: "pane.exited".into(),
            project: "p".into(),
            session: "db".into(),
            pane: "pg".into(),
            address: Some("db/pg".into()),
            data: serde_json::Value::Null,
        };
        assert!(target_matches("db", &e) && target_matches("pg", &e) && target_matches("db/pg", &e));
        assert!(!target_matches("db/x", &e) && !target_matches("api", &e));
    }

    #[test]
    fn data_version_moves_on_other_connections_commits_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctmux.db");
        let daemon = Store::open_at(path.clone()).unwrap();
        let cli = Store::open_at(path).unwrap();
        let v0 = daemon.data_version().unwrap();
        daemon.record("L-x", "pane.started", "p", "s/a", serde_json::json!({})).unwrap();
        assert_eq!(daemon.data_version(), Some(v0), "its own writes keep the cache");
        cli.subscribe("L-x", "pane.exited", None, None, &["true".to_string()], "/").unwrap();
        assert_ne!(daemon.data_version(), Some(v0), "a subscribe elsewhere invalidates it");
    }

    #[test]
    fn ports_are_stable_per_server_and_project_distinct_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_at(dir.path().join("ctmux.db")).unwrap();
        let names = vec!["http".to_string(), "admin".to_string()];
        let a = store.claim_ports("L-a", "shop", &names).unwrap();
        assert_eq!(store.claim_ports("L-a", "shop", &names).unwrap(), a, "a second up keeps the ports");
        let b = store.claim_ports("L-b", "shop", &names).unwrap();
        let mut all: Vec<u16> = a.iter().chain(&b).map(|(_, p)| *p).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4, "two servers share no port: {a:?} {b:?}");
        // A name no longer declared is released; the rest stay.
        let fewer = store.claim_ports("L-a", "shop", &names[..1]).unwrap();
        assert_eq!(fewer, a[..1]);
        assert_eq!(store.ports("L-a", "shop").unwrap(), a[..1]);
        assert_eq!(store.release_ports("L-a", "shop").unwrap(), 1);
        assert!(store.ports("L-a", "shop").unwrap().is_empty());
        let mut b_sorted = b.clone();
        b_sorted.sort();
        assert_eq!(store.ports("L-b", "shop").unwrap(), b_sorted, "another server's ports stay");
    }

    #[test]
    fn migrates_records_queries_and_keeps_subscriptions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctmux.db");
        {
            let store = Store::open_at(path.clone()).unwrap();
            assert_eq!(store.version().unwrap(), MIGRATIONS.len() as i64);
            let a = store.record("L-a", "pane.exited", "p", "db/pg", serde_json::json!({"status": 1})).unwrap();
            store.record("L-b", "pane.exited", "p", "db/pg", serde_json::json!({})).unwrap();
            let c = store.record("L-a", "daemon.started", "", "", serde_json::json!({})).unwrap();
            assert_eq!(c.address, None);
            let all = store.events("L-a", &Query::default()).unwrap();
            assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), vec![a.id, c.id]);
            let q = Query { kinds: vec!["pane.*".into()], ..Query::default() };
            assert_eq!(store.events("L-a", &q).unwrap(), vec![a.clone()]);
            let q = Query { after_id: Some(a.id), ..Query::default() };
            assert_eq!(store.events("L-a", &q).unwrap().len(), 1);
            let s =
                store.subscribe("L-a", "pane.exited", Some("db"), None, &["echo".into(), "hi".into()], "/").unwrap();
            assert_eq!(store.subscriptions("L-b").unwrap(), vec![]);
            assert!(!store.unsubscribe("L-b", s.id).unwrap());
        }
        // Reopening keeps everything and does not migrate again.
        let store = Store::open_at(path.clone()).unwrap();
        assert_eq!(store.subscriptions("L-a").unwrap().len(), 1);
        assert_eq!(store.events("L-a", &Query::default()).unwrap().len(), 2);
        let id = store.subscriptions("L-a").unwrap()[0].id;
        assert!(store.unsubscribe("L-a", id).unwrap());
        store.set_group("L-a", "g", Some(&["db".to_string()])).unwrap();
        assert_eq!(store.group("L-a", "g").unwrap(), Some(vec!["db".to_string()]));
        assert_eq!(store.group("L-b", "g").unwrap(), None, "groups belong to one server");
        assert!(store.groups("L-b").unwrap().is_empty());
        store.set_group("L-a", "g", None).unwrap();
        assert_eq!(store.group("L-a", "g").unwrap(), None);
        // A store from a newer ctmux is refused, not damaged.
        store.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(store);
        assert!(matches!(Store::open_at(path), Err(StoreError::TooNew { found: 99, .. })));
    }

    #[test]
    fn groups_made_before_they_had_a_server_go_to_the_default_server() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(MIGRATIONS[1]).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.execute("INSERT INTO groups (name, members) VALUES ('old', '[\"db\"]')", []).unwrap();
        }
        let store = Store::open_at(path).unwrap();
        assert_eq!(store.group("default", "old").unwrap(), Some(vec!["db".to_string()]));
        assert!(store.groups("L-other").unwrap().is_empty());
    }
}
