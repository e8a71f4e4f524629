//! Finding a pane from what a user typed: a ctmux address (`session/pane`), a unique pane name of
//! a managed pane, a pane named by `pane new --name` (`session/name`, or `name` when unique), or
//! any tmux target (`%12`, `dev:0.1`, `dev`). Works without a manifest.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::manifest::model::Project;
use crate::suggest;
use crate::tmux::{Cmd, LivePane, Socket, Tmux, TmuxError};

/// The server to talk to and, when one is found, the project's manifest.
pub struct Server {
    /// The tmux server.
    pub tmux: Tmux,
    project: OnceLock<Option<Project>>,
}

/// The manifest named by `-f` (its errors count) or discovered (a broken one is ignored).
fn find_project(ctx: &Ctx) -> Result<Option<Project>> {
    if !ctx.global.file.is_empty() {
        return Ok(Some(super::load(ctx)?.project));
    }
    Ok(super::compose_options(ctx)
        .ok()
        .and_then(|o| crate::manifest::load_with(&o, &std::env::vars().collect()).ok())
        .map(|l| l.project))
}

impl Server {
    /// Picks the server like the declarative verbs do, but a missing or invalid manifest is fine
    /// (imperative verbs work on any tmux object) unless `-f` named one explicitly. The manifest
    /// is read only when needed, so the first look at tmux happens as early as possible (`pane
    /// wait` measures "after the call" from it).
    pub fn open(ctx: &Ctx) -> Result<Server> {
        let env = std::env::var("CTMUX_TMUX_SOCKET").ok().filter(|e| !e.is_empty());
        let explicit = ctx.global.socket_name.is_some() || ctx.global.socket_path.is_some() || env.is_some();
        let project = OnceLock::new();
        if !explicit || !ctx.global.file.is_empty() {
            let _ = project.set(find_project(ctx)?);
        }
        let socket = Socket::choose(
            ctx.global.socket_name.as_deref(),
            ctx.global.socket_path.as_deref(),
            env.as_deref(),
            project.get().and_then(|p: &Option<Project>| p.as_ref()).and_then(|p| p.socket.as_deref()),
        );
        Ok(Server { tmux: Tmux::new(socket), project })
    }

    /// The project's manifest, if there is one here.
    pub fn project(&self, ctx: &Ctx) -> Option<&Project> {
        self.project.get_or_init(|| find_project(ctx).ok().flatten()).as_ref()
    }

    /// Every pane on the server; a dead server is an error (exit 5).
    pub async fn panes(&self) -> Result<Vec<LivePane>> {
        self.tmux.list(&[]).await.map(|(live, _)| live.panes).map_err(|e| self.error(e, "listing panes"))
    }

    /// The user-facing error for a failed tmux call (no server → exit 5 with a hint).
    pub fn error(&self, e: TmuxError, doing: &str) -> Error {
        match e {
            TmuxError::NoServer | TmuxError::ServerLost => Error::TmuxUnavailable {
                message: format!("{}: {e}", self.tmux.command_line()),
                hint: Some("start something first (`ctmux up`, `ctmux session new NAME`), or pass -L/-S".into()),
            },
            e => e.into_error(doing),
        }
    }

    /// Resolves `target` to one live pane. An empty target is no pane (exit 4): tmux would read
    /// `-t ''` as "the current pane".
    pub async fn pane(&self, ctx: &Ctx, target: &str) -> Result<LivePane> {
        if target.trim().is_empty() {
            return Err(empty_target());
        }
        let panes = self.panes().await?;
        let project = self.project(ctx).map(|p| p.name.as_str());
        let managed = |p: &&LivePane| !p.address.is_empty();
        let prefer = |found: Vec<&LivePane>| -> Option<LivePane> {
            match found.as_slice() {
                [one] => Some((*one).clone()),
                [] => None,
                many => many.iter().find(|p| Some(p.project.as_str()) == project).map(|p| (*p).clone()),
            }
        };
        if target.contains('/') {
            if let Some(p) = prefer(panes.iter().filter(|p| p.address == target).collect()) {
                return Ok(p);
            }
        } else if !target.starts_with('%')
            && !target.contains(':')
            && !target.contains('.')
            && let Some(p) =
                prefer(panes.iter().filter(managed).filter(|p| p.address.rsplit('/').next() == Some(target)).collect())
        {
            return Ok(p);
        }
        // A pane named by `pane new --name`: `session/name`, or `name` when unique.
        if !target.starts_with('%') && !target.contains(':') && !target.contains('.') {
            let named = self.named().await?;
            let found: Vec<&(String, String, String)> = match target.split_once('/') {
                Some((session, name)) => named.iter().filter(|(_, s, n)| s == session && n == name).collect(),
                None => named.iter().filter(|(_, _, n)| n == target).collect(),
            };
            match found.as_slice() {
                [(id, _, _)] => {
                    if let Some(p) = panes.iter().find(|p| &p.pane_id == id) {
                        return Ok(p.clone());
                    }
                }
                [] => {}
                many => {
                    let all: Vec<String> = many.iter().map(|(id, s, n)| format!("{s}/{n} ({id})")).collect();
                    return Err(Error::NotFound {
                        message: format!("`{target}` names {} panes: {}", many.len(), all.join(", ")),
                        hint: Some("address one as SESSION/NAME or by its id".into()),
                    });
                }
            }
        }
        // Any tmux target, matched exactly here against what tmux listed: tmux's own lookup
        // prefix- and pattern-matches names, and where it may fail (`display-message -t`) it
        // falls back to "the current pane" of whatever it found so far.
        if let Some(parsed) = parse_target(target) {
            let active = match (&parsed.window, parsed.session.as_deref()) {
                (None, Some(session)) => self.active_window(&panes, session).await?,
                _ => None,
            };
            if let Some(p) = pick(&panes, &parsed, active.as_deref()) {
                return Ok(p.clone());
            }
        }
        let mut names: Vec<String> = panes.iter().filter(managed).map(|p| p.address.clone()).collect();
        names.extend(self.named().await.unwrap_or_default().into_iter().map(|(_, s, n)| format!("{s}/{n}")));
        names.extend(panes.iter().map(|p| p.pane_id.clone()));
        let hint = suggest::hint(target, names.iter().map(String::as_str)).or_else(|| {
            (!names.is_empty())
                .then(|| format!("panes: {}", names.iter().take(12).cloned().collect::<Vec<_>>().join(", ")))
        });
        Err(Error::NotFound { message: format!("no pane `{target}` on {}", self.tmux.command_line()), hint })
    }

    /// The id of the current window of session `session` (`$N` or a name matched exactly
    /// against `panes`), asked by session id: `list-windows -t` never falls back.
    async fn active_window(&self, panes: &[LivePane], session: &str) -> Result<Option<String>> {
        let Some(id) = panes
            .iter()
            .find(|p| if session.starts_with('$') { p.session_id == session } else { p.session == session })
            .map(|p| p.session_id.clone())
        else {
            return Ok(None);
        };
        let ask = Cmd::query("list-windows").args(["-t", &id, "-F", "#{window_active} #{window_id}"]);
        match self.tmux.run(&[ask]).await {
            Ok(out) => Ok(out.lines().find_map(|l| l.strip_prefix("1 ")).map(str::to_string)),
            Err(TmuxError::Failed { .. }) => Ok(None),
            Err(e) => Err(e.into_error("finding the pane")),
        }
    }

    /// Panes named by `pane new --name` (`@ctmux-name`): `(pane id, session, name)`.
    pub async fn named(&self) -> Result<Vec<(String, String, String)>> {
        let format = "#{pane_id}\x1f#{session_name}\x1f#{@ctmux-name}";
        let text = self
            .tmux
            .run(&[Cmd::query("list-panes").args(["-a", "-F", format])])
            .await
            .map_err(|e| self.error(e, "listing pane names"))?;
        Ok(text
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\x1f');
                Some((f.next()?.to_string(), f.next()?.to_string(), f.next().filter(|n| !n.is_empty())?.to_string()))
            })
            .collect())
    }

    /// Metadata (`@ctmux-meta-*`) of each pane in `ids`, in one tmux call.
    pub async fn metadata(&self, ids: &[String]) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
        const MARK: &str = "\x1fctmux-meta\x1f";
        let mut cmds = Vec::new();
        for id in ids {
            let mark = crate::tmux::command::message_literal(&format!("{MARK}{id}"));
            cmds.push(Cmd::query("display-message").args(["-p", &mark]));
            cmds.push(Cmd::query("show-options").args(["-p", "-t", id]));
        }
        let text = self.tmux.run(&cmds).await.map_err(|e| e.into_error("reading metadata"))?;
        let mut out = BTreeMap::new();
        for part in text.split(MARK).skip(1) {
            let mut lines = part.lines();
            let id = lines.next().unwrap_or_default().to_string();
            let meta: BTreeMap<String, String> = lines
                .filter_map(|l| l.strip_prefix("@ctmux-meta-"))
                .filter_map(|l| l.split_once(' '))
                .map(|(k, v)| (k.to_string(), unquote(v)))
                .collect();
            out.insert(id, meta);
        }
        Ok(out)
    }
}

/// The error for an empty target, shared by every verb that takes one.
pub fn empty_target() -> Error {
    Error::NotFound {
        message: "empty target: name a pane (`session/pane`, `%12`, `session:window.pane`)".into(),
        hint: Some("an empty `-t` means \"the current pane\" to tmux; ctmux never guesses".into()),
    }
}

/// A tmux target taken apart (`session:window.pane`, `@window`, `%pane`), each part kept as
/// typed (a leading `=` removed: every name is matched exactly anyway).
#[derive(Debug, PartialEq, Eq)]
pub struct TmuxTarget {
    /// `$N` or a session name; `None` for a bare `@N` or `%N`.
    pub session: Option<String>,
    /// `@N`, an index or a window name; `None`: the session's current window.
    pub window: Option<String>,
    /// `%N` or an index; `None`: the window's active pane.
    pub pane: Option<String>,
}

/// Takes `target` apart; `None` for what has no exact meaning from outside tmux: an empty
/// target (tmux's "current pane"), a window or pane of "the current session" (`:1`,
/// `editor.0`), or a relative token (`{last}`, `+1`).
pub fn parse_target(target: &str) -> Option<TmuxTarget> {
    let strip = |s: &str| s.strip_prefix('=').unwrap_or(s).to_string();
    let plain = |s: &str| !s.is_empty() && !s.starts_with(['{', '+', '-', '!', '^']) && s != "$";
    if target.starts_with('@') && !target.contains([':', '.']) {
        return Some(TmuxTarget { session: None, window: Some(target.to_string()), pane: None });
    }
    if target.starts_with('%') && !target.contains(':') {
        return Some(TmuxTarget { session: None, window: None, pane: Some(target.to_string()) });
    }
    let (session, rest) = match target.split_once(':') {
        Some((s, r)) => (s, Some(r)),
        // Session names never hold `.` (tmux replaces it): `editor.0` is a window of the
        // current session.
        None if target.contains('.') => return None,
        None => (target, None),
    };
    if !plain(session) && !session.starts_with('$') {
        return None;
    }
    let (window, pane) = match rest.map(|r| r.split_once('.').map_or((r, None), |(w, p)| (w, Some(p)))) {
        None => (None, None),
        Some((w, p)) => ((!w.is_empty()).then_some(w), p),
    };
    if window.is_some_and(|w| !plain(w))
        || pane.is_some_and(|p| !plain(p) || !(p.starts_with('%') || p.bytes().all(|b| b.is_ascii_digit())))
    {
        return None;
    }
    Some(TmuxTarget { session: Some(strip(session)), window: window.map(strip), pane: pane.map(str::to_string) })
}

/// The pane `t` names among `panes`, exactly; `active_window` is the id of the session's
/// current window when `t` names a session only. A window name two windows share is no match.
pub fn pick<'p>(panes: &'p [LivePane], t: &TmuxTarget, active_window: Option<&str>) -> Option<&'p LivePane> {
    let in_session = |p: &&LivePane| match t.session.as_deref() {
        None => true,
        Some(s) if s.starts_with('$') => p.session_id == s,
        Some(s) => p.session == s,
    };
    let candidates: Vec<&LivePane> = panes.iter().filter(in_session).collect();
    let window_id = match (t.window.as_deref(), active_window) {
        (Some(w), _) if w.starts_with('@') => w.to_string(),
        (Some(w), _) if w.bytes().all(|b| b.is_ascii_digit()) => {
            candidates.iter().find(|p| p.window_index.to_string() == w)?.window_id.clone()
        }
        (Some(w), _) => {
            let ids: std::collections::BTreeSet<&str> =
                candidates.iter().filter(|p| p.window_name == w).map(|p| p.window_id.as_str()).collect();
            let [one] = ids.into_iter().collect::<Vec<_>>()[..] else { return None };
            one.to_string()
        }
        (None, Some(active)) => active.to_string(),
        (None, None) if t.session.is_none() => String::new(),
        (None, None) => return None,
    };
    let in_window: Vec<&LivePane> =
        candidates.into_iter().filter(|p| window_id.is_empty() || p.window_id == window_id).collect();
    match t.pane.as_deref() {
        Some(id) if id.starts_with('%') => in_window.into_iter().find(|p| p.pane_id == id),
        Some(index) => in_window.into_iter().find(|p| p.pane_index.to_string() == index),
        None => in_window.into_iter().find(|p| p.active),
    }
}

/// `show-options` quotes values with spaces; undo it.
fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 && (v.starts_with('"') && v.ends_with('"') || v.starts_with('\'') && v.ends_with('\'')) {
        v[1..v.len() - 1].replace("\\\"", "\"").replace("\\\\", "\\")
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::{TmuxTarget, parse_target};

    fn t(s: Option<&str>, w: Option<&str>, p: Option<&str>) -> Option<TmuxTarget> {
        Some(TmuxTarget { session: s.map(Into::into), window: w.map(Into::into), pane: p.map(Into::into) })
    }

    #[test]
    fn targets_are_taken_apart_exactly() {
        assert_eq!(parse_target(""), None);
        assert_eq!(parse_target("b"), t(Some("b"), None, None));
        assert_eq!(parse_target("=b"), t(Some("b"), None, None));
        assert_eq!(parse_target("dev:0.1"), t(Some("dev"), Some("0"), Some("1")));
        assert_eq!(parse_target("dev:=editor"), t(Some("dev"), Some("editor"), None));
        assert_eq!(parse_target("dev:editor.2"), t(Some("dev"), Some("editor"), Some("2")));
        assert_eq!(parse_target("dev:"), t(Some("dev"), None, None));
        assert_eq!(parse_target("$2:@3.%4"), t(Some("$2"), Some("@3"), Some("%4")));
        assert_eq!(parse_target("@4"), t(None, Some("@4"), None));
        assert_eq!(parse_target("%12"), t(None, None, Some("%12")));
        assert_eq!(parse_target(":1"), None);
        assert_eq!(parse_target("editor.0"), None);
        assert_eq!(parse_target("dev:{last}"), None);
        assert_eq!(parse_target("dev:0.{top}"), None);
    }
}
