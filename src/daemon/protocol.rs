//! The CLI ↔ daemon protocol: one JSON object per line over a Unix socket, versioned, shared by
//! both sides so they cannot disagree.

use serde::{Deserialize, Serialize};

/// Protocol version; a daemon refuses requests of another version with a clear error.
pub const VERSION: u32 = 1;

/// What a client asks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Is the daemon alive, and what does it watch?
    Status,
    /// Load (or reload) a manifest: its rules and restart policies apply from now on.
    Load {
        /// Absolute manifest path.
        file: String,
        /// Environment to interpolate it with (the CLI's).
        env: Vec<(String, String)>,
        /// The text the verb read and acted on; the daemon lowers this rather than reading the
        /// file again (which may have changed since). Absent: the daemon reads the file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
    },
    /// Stop acting on this project (`up --no-daemon`): no restarts, rules, pending starts or
    /// GC for it until a verb loads it again.
    Forget {
        /// Project name.
        project: String,
    },
    /// Stream every event with an id above `after_id` (stored ones first), one JSON object per
    /// line, until the client hangs up.
    Follow {
        /// Last event id the client has.
        after_id: i64,
    },
    /// Sample resource use now (and check limits), instead of at the next tick.
    Sample,
    /// Look at tmux again now: a new subscription may target sessions not watched yet.
    Watch,
    /// Record (and publish, and run subscriptions on) an event a client saw, e.g. a wait that
    /// timed out.
    Record {
        /// Event kind.
        kind: String,
        /// Project (empty for panes not created from a manifest).
        project: String,
        /// `session/pane`.
        address: String,
        /// Event data.
        data: serde_json::Value,
    },
    /// Exit.
    Stop,
}

/// A request on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// Must equal [`VERSION`].
    pub v: u32,
    /// The request.
    #[serde(flatten)]
    pub request: Request,
}

/// The daemon's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Response {
    /// Whether the request succeeded.
    pub ok: bool,
    /// Why not, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Status details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

/// What `daemon status` reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    /// Daemon pid.
    pub pid: u32,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// Projects whose manifests it holds.
    pub projects: Vec<String>,
    /// Sessions it has a control client attached to.
    pub sessions: Vec<String>,
    /// Managed panes it watches.
    pub panes: usize,
    /// The state store it records events in (absent when it cannot open one).
    #[serde(default)]
    pub store: Option<String>,
    /// Subscriptions it runs.
    #[serde(default)]
    pub subscriptions: usize,
    /// The pid of the supervisor that starts it again if it dies (absent: not supervised).
    #[serde(default)]
    pub supervisor: Option<u32>,
    /// The socket it listens on (registered in the tmux server, so callers with another
    /// `XDG_RUNTIME_DIR` find it).
    #[serde(default)]
    pub socket: Option<String>,
}

impl Response {
    /// A success.
    pub fn ok() -> Response {
        Response { ok: true, error: None, status: None }
    }

    /// A failure with a reason.
    pub fn error(message: impl Into<String>) -> Response {
        Response { ok: false, error: Some(message.into()), status: None }
    }
}

/// Parses one request line; malformed or hostile input becomes an error response, never a panic.
pub fn parse_request(line: &str) -> Result<Request, String> {
    let envelope: Envelope = serde_json::from_str(line).map_err(|e| format!("bad request: {e}"))?;
    if envelope.v != VERSION {
        return Err(format!("protocol version {} is not supported (this daemon speaks {VERSION})", envelope.v));
    }
    Ok(envelope.request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_garbage_is_an_error() {
        let line = serde_json::to_string(&Envelope { v: VERSION, request: Request::Status }).unwrap();
        assert_eq!(line, r#"{"v":1,"cmd":"status"}"#);
        assert_eq!(parse_request(&line), Ok(Request::Status));
        assert!(parse_request("{\"v\":2,\"cmd\":\"status\"}").unwrap_err().contains("version 2"));
        for junk in ["", "null", "{", "[1,2]", "{\"v\":1}", "{\"v\":1,\"cmd\":\"rm -rf\"}", "\u{0}\u{ffff}"] {
            assert!(parse_request(junk).is_err(), "{junk:?}");
        }
    }
}
