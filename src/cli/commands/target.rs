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

    /// Resolves `target` to one live pane.
    pub async fn pane(&self, ctx: &Ctx, target: &str) -> Result<LivePane> {
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
        // Any tmux target: let tmux resolve it.
        match self.tmux.run(&[Cmd::query("display-message").args(["-p", "-t", target, "#{pane_id}"])]).await {
            Ok(id) => {
                let id = id.trim();
                if let Some(p) = panes.iter().find(|p| p.pane_id == id) {
                    return Ok(p.clone());
                }
            }
            Err(TmuxError::Failed { .. }) => {}
            Err(e) => return Err(e.into_error("finding the pane")),
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

    /// Panes named by `pane new --name` (`@ctmux-name`): `(pane id, session, name)`.
    async fn named(&self) -> Result<Vec<(String, String, String)>> {
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

/// `show-options` quotes values with spaces; undo it.
fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 && (v.starts_with('"') && v.ends_with('"') || v.starts_with('\'') && v.ends_with('\'')) {
        v[1..v.len() - 1].replace("\\\"", "\"").replace("\\\\", "\\")
    } else {
        v.to_string()
    }
}
