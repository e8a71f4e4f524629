//! Composition, as docker compose does it: several `-f` files merged in order, `include:`,
//! `extends:` on panes, `profiles:` on sessions and panes, and the `.env` (or `--env-file`)
//! read for interpolation.
//!
//! Every file is parsed into the same [`Node`] tree as a single manifest, with its spans moved
//! by the file's *base*: the files' texts laid end to end form one virtual source, so a span
//! still names one file and one place, lowering works unchanged, and [`ManifestError`] maps each
//! problem back to its file, line and column. The result of this module is one merged tree with
//! no `include`, `extends` or `profiles` left in it; lowering never sees those keys.
//!
//! Merging: two maps merge key by key (keys keep the earlier file's order, new keys follow);
//! anything else — a scalar, a list, a null, or a change of shape — is replaced by the later
//! file's value.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::diagnostic::{ManifestError, Problem, SourceFile};
use super::node::{Key, Node, NodeKind, Span};
use crate::suggest;

/// How a manifest is put together: what the command line (and `CTMUX_PROFILES`) asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// The `-f` files in order; empty means "discover ctmux.yaml".
    pub files: Vec<PathBuf>,
    /// Active profiles (`--profile`, else `CTMUX_PROFILES`).
    pub profiles: Vec<String>,
    /// `--env-file`: replaces the `.env` beside the first manifest for interpolation.
    pub env_files: Option<Vec<PathBuf>>,
    /// `up --scale PANE=N`: replica counts that override `replicas:` (or replicate a pane).
    #[serde(default)]
    pub scale: Vec<(String, u32)>,
    /// The ports allocated to `ports: {NAME: auto}` (from the state store), by NAME.
    #[serde(default)]
    pub ports: Vec<(String, u16)>,
}

/// The environment variable that carries [`Options`] (as JSON) to the daemon and to a session's
/// `@ctmux-compose`, so a reload composes the same files with the same profiles.
pub const COMPOSE_VAR: &str = "CTMUX_COMPOSE";

impl Options {
    /// Profiles from `CTMUX_PROFILES` (comma separated) when none were given as flags.
    pub fn with_env_profiles(mut self, env: &HashMap<String, String>) -> Self {
        if self.profiles.is_empty()
            && let Some(list) = env.get("CTMUX_PROFILES")
        {
            self.profiles = list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        }
        self
    }

    /// Whether this is more than one plain file (then it is recorded for reloads).
    pub fn is_composed(&self) -> bool {
        self.files.len() > 1
            || !self.profiles.is_empty()
            || self.env_files.is_some()
            || !self.scale.is_empty()
            || !self.ports.is_empty()
    }

    /// The options with every path absolute, as JSON for [`COMPOSE_VAR`].
    pub fn to_json(&self) -> String {
        let abs = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
        let o = Options {
            files: self.files.iter().map(abs).collect(),
            profiles: self.profiles.clone(),
            env_files: self.env_files.as_ref().map(|v| v.iter().map(abs).collect()),
            scale: self.scale.clone(),
            ports: self.ports.clone(),
        };
        serde_json::to_string(&o).unwrap_or_default()
    }
}

/// The files read so far, laid end to end (see the module header).
#[derive(Debug, Default)]
pub struct Sources {
    /// Every file, in the order it was read.
    pub files: Vec<SourceFile>,
    /// The texts end to end, each followed by a newline: offsets in spans index this.
    pub text: String,
    /// Each file's absolute directory (relative paths in it resolve there).
    dirs: Vec<PathBuf>,
}

impl Sources {
    /// Adds a file's text; returns its base offset.
    fn add(&mut self, shown: &Path, absolute: &Path, text: String) -> usize {
        let base = self.text.len();
        self.text.push_str(&text);
        self.text.push('\n');
        self.files.push(SourceFile { path: shown.to_path_buf(), base, text: Arc::new(text) });
        self.dirs.push(absolute.parent().unwrap_or(Path::new("/")).to_path_buf());
        base
    }

    /// The directory of the file a global offset lies in.
    pub fn dir_at(&self, offset: usize) -> Option<&Path> {
        let i = self.files.iter().rposition(|f| f.base <= offset)?;
        self.dirs.get(i).map(PathBuf::as_path)
    }

    /// The file a global offset lies in.
    pub fn file_at(&self, offset: usize) -> Option<&SourceFile> {
        self.files.iter().rev().find(|f| f.base <= offset)
    }

    /// An error carrying `problems` with every file, so each points at its own file.
    pub fn error(&self, problems: Vec<Problem>) -> ManifestError {
        ManifestError::with_sources(self.files.clone(), problems)
    }
}

/// The result of composing: one tree, its sources, and what profiles turned off.
pub struct Composed {
    /// The merged document.
    pub root: Node,
    /// Where each span points.
    pub sources: Sources,
    /// Problems found while composing (spans are global).
    pub problems: Vec<Problem>,
    /// Sessions (`name`) and panes (`session/pane` and bare `pane`) switched off by profiles,
    /// with the profiles that would switch them on.
    pub disabled: HashMap<String, Vec<String>>,
    /// The absolute path of the first file (anchors relative paths, names the project).
    pub first: PathBuf,
    /// The first file's text (what a verb hands the daemon).
    pub first_text: String,
    /// The absolute path of every file read (manifests, includes, extends), for `up --watch`.
    pub read: Vec<PathBuf>,
    /// Every profile name a `profiles:` declares, sorted (what `--profile` completes to).
    pub profiles: Vec<String>,
}

/// The first file's text when the caller has it already, with the absolute path that anchors it.
pub type Given = (String, PathBuf);

/// Reads and composes `files` (at least one) with `profiles` active; `given` is the first
/// file's text and anchor when it is not to be read from disk.
pub fn compose(files: &[PathBuf], given: Option<Given>, profiles: &[String]) -> Result<Composed, ManifestError> {
    let mut c = Composer {
        sources: Sources::default(),
        problems: Vec::new(),
        stack: Vec::new(),
        read: Vec::new(),
        cyclic: HashSet::new(),
    };
    let mut root: Option<Node> = None;
    let mut given = given;
    let mut first_text = String::new();
    let first = match &given {
        Some((_, absolute)) => absolute.clone(),
        None => std::path::absolute(&files[0]).unwrap_or_else(|_| files[0].clone()),
    };
    super::confine_to(&first);
    for (i, file) in files.iter().enumerate() {
        let (text, absolute) = match (i, given.take()) {
            (0, Some((text, absolute))) => (Ok(text), absolute),
            _ => (read(file), std::path::absolute(file).unwrap_or_else(|_| file.clone())),
        };
        let text = match text {
            Ok(t) => {
                if i == 0 {
                    first_text = t.clone();
                }
                t
            }
            Err(reason) => {
                // A later -f that cannot be read is as fatal as the first.
                return Err(ManifestError::file_problem(
                    file,
                    "unreadable",
                    format!("cannot read {}: {reason}", file.display()),
                    Some("each -f names a manifest file; paths are relative to the current directory".into()),
                ));
            }
        };
        let Some(node) = c.file(file, &absolute, text, false) else { continue };
        root = Some(match root {
            None => node,
            Some(earlier) => merge_manifests(earlier, node),
        });
    }
    let mut root = root.unwrap_or(Node { span: 0..0, kind: NodeKind::Null });
    if c.problems.iter().any(|p| p.code == "syntax" || p.code == "too_large") {
        // A file that did not parse is missing from the tree: what follows would only guess.
        return Err(c.sources.error(c.problems));
    }
    c.extends(&mut root);
    let (disabled, declared) = c.profiles(&mut root, profiles);
    Ok(Composed {
        root,
        sources: c.sources,
        problems: c.problems,
        disabled,
        first,
        first_text,
        read: c.read,
        profiles: declared,
    })
}

/// Reads a manifest file as text, with the reason when it cannot be read.
fn read(path: &Path) -> Result<String, String> {
    // Confined (an MCP client's validate), a file that is not a manifest is never parsed as one:
    // its lines would come back as "unknown key" errors.
    if super::confine_root().is_some() {
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if !real.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "yaml" | "yml" | "toml")) {
            return Err("not a .yaml, .yml or .toml file (an MCP client's validate reads no other file)".into());
        }
    }
    let bytes = super::read_regular(path, super::MANIFEST_MAX).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        _ => e.to_string().split(" (os error").next().unwrap_or_default().to_string(),
    })?;
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())
}

struct Composer {
    sources: Sources,
    problems: Vec<Problem>,
    /// Files being read (canonical), for include cycles: each with the span that included it.
    stack: Vec<(PathBuf, Option<Span>)>,
    read: Vec<PathBuf>,
    /// Panes of an `extends` cycle already reported (each cycle is reported once).
    cyclic: HashSet<String>,
}

impl Composer {
    /// Parses one file (`shown` as the user or an include named it), resolves its `include:`
    /// and returns its tree with global spans. `included` files get their relative paths
    /// anchored at their own directory.
    fn file(&mut self, shown: &Path, absolute: &Path, text: String, included: bool) -> Option<Node> {
        let absolute = absolute.to_path_buf();
        let canonical = std::fs::canonicalize(&absolute).unwrap_or_else(|_| absolute.clone());
        self.read.push(absolute.clone());
        let is_toml = shown.extension().is_some_and(|e| e == "toml");
        let parsed = if is_toml { super::toml::parse(&text) } else { super::yaml::parse(&text) };
        let len = text.len();
        let base = self.sources.add(shown, &absolute, text);
        let mut root = match parsed {
            Ok(mut node) => {
                shift(&mut node, base);
                node
            }
            Err(e) => {
                let (at, end) = (base + e.offset, base + (e.offset + 1).min(len).max(e.offset));
                let problem = if e.message.starts_with(super::yaml::ALIAS_LIMIT) {
                    let end = base + (e.offset + 2).min(len).max(e.offset);
                    Problem::new("too_large", at..end, e.message.clone(), "this alias crosses the limit")
                        .help("aliases are for sharing a few values; a document that multiplies itself is refused")
                } else {
                    Problem::new(
                        "syntax",
                        at..end,
                        format!("{} syntax error: {}", if is_toml { "TOML" } else { "YAML" }, e.message),
                        "here",
                    )
                    .help("fix the syntax; `ctmux validate` checks the file without touching tmux")
                };
                self.problems.push(problem);
                return None;
            }
        };
        let dir = absolute.parent().unwrap_or(Path::new("/")).to_path_buf();
        if included {
            anchor_paths(&mut root, &dir);
        }
        let NodeKind::Map(entries) = &mut root.kind else { return Some(root) };
        let Some(i) = entries.iter().position(|(k, _)| k.name == "include") else { return Some(root) };
        let (_, list) = entries.remove(i);
        let items = match list.kind {
            NodeKind::Seq(items) => items,
            NodeKind::Scalar { .. } => vec![list],
            NodeKind::Null => Vec::new(),
            NodeKind::Map(_) => {
                self.problems.push(
                    Problem::new("invalid_type", list.span, "include must be a list of files, found a map", "a map")
                        .help("write `include: [common.yaml, db.yaml]`"),
                );
                return Some(root);
            }
        };
        self.stack.push((canonical, None));
        let mut merged: Option<Node> = None;
        for item in items {
            if let Some(last) = self.stack.last_mut() {
                last.1 = Some(item.span.clone());
            }
            let Some(name) = item.as_scalar().map(str::to_string) else {
                self.problems.push(
                    Problem::new(
                        "invalid_type",
                        item.span.clone(),
                        format!("an include entry must be a file name, found {}", item.kind_name()),
                        "not a file name",
                    )
                    .help("write `include: [common.yaml]`; paths are relative to this file's directory"),
                );
                continue;
            };
            let path = super::lower::resolve_path(&dir, &name);
            let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if let Some(at) = self.stack.iter().position(|(p, _)| *p == canonical) {
                let mut chain: Vec<String> = self.stack[at..].iter().map(|(p, _)| short(p)).collect::<Vec<_>>();
                chain.push(short(&canonical));
                let mut problem = Problem::new(
                    "include_cycle",
                    item.span.clone(),
                    format!("include cycle: {}", chain.join(" → ")),
                    "includes a file that includes this one",
                )
                .help("a file may be included by several files, but never by itself, directly or through others");
                for (_, span) in &self.stack[at..self.stack.len() - 1] {
                    if let Some(s) = span {
                        problem = problem.also(s.clone(), "included here");
                    }
                }
                self.problems.push(problem);
                continue;
            }
            let text = match read(&path) {
                Ok(t) => t,
                Err(reason) => {
                    self.problems.push(
                        Problem::new(
                            "include_missing",
                            item.span.clone(),
                            format!("cannot read included file `{name}` ({}): {reason}", path.display()),
                            "cannot read",
                        )
                        .help("include paths are relative to the directory of the file that includes them"),
                    );
                    continue;
                }
            };
            let shown_path = shown.parent().map_or_else(|| PathBuf::from(&name), |d| d.join(&name));
            if let Some(node) = self.file(&shown_path, &path, text, true) {
                merged = Some(match merged {
                    None => node,
                    Some(earlier) => merge_manifests(earlier, node),
                });
            }
        }
        self.stack.pop();
        // The including file wins over what it includes.
        Some(match merged {
            Some(under) => merge_manifests(under, root),
            None => root,
        })
    }

    /// Replaces every pane that `extends:` another by the merge of the two.
    fn extends(&mut self, root: &mut Node) {
        let panes = pane_paths(root);
        let mut resolved: HashMap<String, Node> = HashMap::new();
        for (address, path) in &panes {
            let node = at_path(root, path);
            if !has_key(node, "extends") {
                continue;
            }
            let mut stack = Vec::new();
            if let Some(done) = self.resolve_extends(root, &panes, address, &mut stack, &mut resolved) {
                resolved.insert(address.clone(), done);
            }
        }
        for (address, path) in &panes {
            if let Some(node) = resolved.remove(address) {
                *at_path_mut(root, path) = node;
            } else if let NodeKind::Map(entries) = &mut at_path_mut(root, path).kind {
                // A failed extends was reported; keep lowering from reporting it again.
                entries.retain(|(k, _)| k.name != "extends");
            }
        }
    }

    /// The pane at `address` of `doc` with its `extends:` applied (recursively).
    fn resolve_extends(
        &mut self,
        doc: &Node,
        panes: &[(String, Vec<usize>)],
        address: &str,
        stack: &mut Vec<String>,
        done: &mut HashMap<String, Node>,
    ) -> Option<Node> {
        if let Some(n) = done.get(address) {
            return Some(n.clone());
        }
        if self.cyclic.contains(address) {
            return None;
        }
        let path = &panes.iter().find(|(a, _)| a == address)?.1;
        let node = at_path(doc, path).clone();
        let NodeKind::Map(entries) = &node.kind else { return Some(node) };
        let Some((key, ext)) = entries.iter().find(|(k, _)| k.name == "extends").cloned() else {
            return Some(node);
        };
        let mut own = node.clone();
        if let NodeKind::Map(e) = &mut own.kind {
            e.retain(|(k, _)| k.name != "extends");
        }
        stack.push(address.to_string());
        let base = match &ext.kind {
            NodeKind::Scalar { text, .. } => {
                let target = self.find_pane(panes, text, &ext.span, address, None)?;
                if let Some(at) = stack.iter().position(|a| *a == target) {
                    let mut chain = stack[at..].to_vec();
                    self.cyclic.extend(chain.iter().cloned());
                    chain.push(target.clone());
                    self.problems.push(
                        Problem::new(
                            "extends_cycle",
                            ext.span.clone(),
                            format!("extends cycle: {}", chain.join(" → ")),
                            "extends a pane that extends this one",
                        )
                        .help("a pane cannot extend itself, directly or through others"),
                    );
                    stack.pop();
                    return None;
                }
                let base = self.resolve_extends(doc, panes, &target, stack, done);
                stack.pop();
                base?
            }
            NodeKind::Map(fields) => {
                stack.pop();
                self.extends_from_file(fields, &ext, &key)?
            }
            _ => {
                stack.pop();
                self.problems.push(
                    Problem::new(
                        "invalid_type",
                        ext.span.clone(),
                        format!("extends must be a pane address or {{file, pane}}, found {}", ext.kind_name()),
                        "not an address",
                    )
                    .help("write `extends: session/pane`, or `extends: { file: base.yaml, pane: session/pane }`"),
                );
                return None;
            }
        };
        let mut base = as_pane_map(base);
        if let NodeKind::Map(e) = &mut base.kind {
            // A template switched off by a profile must not switch off the panes built on it.
            e.retain(|(k, _)| k.name != "profiles" && k.name != "extends");
        }
        Some(merge(base, own))
    }

    /// `extends: {file, pane}`: the pane of another file (with its own includes and extends).
    fn extends_from_file(&mut self, fields: &[(Key, Node)], ext: &Node, key: &Key) -> Option<Node> {
        let get = |name: &str| fields.iter().find(|(k, _)| k.name == name).map(|(_, v)| v);
        for (k, _) in fields {
            if k.name != "file" && k.name != "pane" {
                self.problems.push(
                    Problem::new(
                        "unknown_key",
                        k.span.clone(),
                        format!("unknown key `{}` in extends", k.name),
                        "unknown key",
                    )
                    .help("extends accepts: file, pane"),
                );
            }
        }
        let (Some(file), Some(pane)) = (get("file"), get("pane")) else {
            self.problems.push(
                Problem::new("missing_key", ext.span.clone(), "extends needs both `file` and `pane`", "incomplete")
                    .help("write `extends: { file: base.yaml, pane: session/pane }`"),
            );
            return None;
        };
        let (Some(name), Some(target)) = (file.as_scalar(), pane.as_scalar()) else {
            self.problems.push(Problem::new(
                "invalid_type",
                ext.span.clone(),
                "extends.file and extends.pane are strings",
                "not strings",
            ));
            return None;
        };
        let dir = self.sources.dir_at(key.span.start).map(Path::to_path_buf).unwrap_or_default();
        let path = super::lower::resolve_path(&dir, name);
        let text = match read(&path) {
            Ok(t) => t,
            Err(reason) => {
                self.problems.push(
                    Problem::new(
                        "extends_missing",
                        file.span.clone(),
                        format!("cannot read `{name}` ({}): {reason}", path.display()),
                        "cannot read",
                    )
                    .help("extends.file is relative to the directory of the file that names it"),
                );
                return None;
            }
        };
        let before = self.problems.len();
        let shown = self.sources.file_at(key.span.start).and_then(|f| f.path.parent().map(|d| d.join(name)));
        let mut other = self.file(&shown.unwrap_or_else(|| path.clone()), &path, text, true)?;
        if self.problems.len() > before {
            return None;
        }
        self.extends(&mut other);
        let panes = pane_paths(&other);
        let target = self.find_pane(&panes, target, &pane.span, "", Some(name))?;
        let path = &panes.iter().find(|(a, _)| *a == target)?.1;
        let mut base = as_pane_map(at_path(&other, path).clone());
        // Its relative `cwd` means the directory of its own session there (anchored above).
        let session_cwd = child(at_path(&other, &path[..2]), "cwd").and_then(Node::as_scalar).map(PathBuf::from);
        if let Some(session_cwd) = session_cwd
            && let Some(NodeKind::Scalar { text, .. }) = child_mut(&mut base, "cwd").map(|n| &mut n.kind)
            && !text.starts_with('$')
        {
            *text = super::lower::resolve_path(&session_cwd, text).to_string_lossy().into_owned();
        }
        Some(base)
    }

    /// The full address of the pane `name` names in `panes`, or a problem at `span`.
    fn find_pane(
        &mut self,
        panes: &[(String, Vec<usize>)],
        name: &str,
        span: &Span,
        from: &str,
        file: Option<&str>,
    ) -> Option<String> {
        let matches: Vec<&String> = if name.contains('/') {
            panes.iter().map(|(a, _)| a).filter(|a| *a == name).collect()
        } else {
            panes.iter().map(|(a, _)| a).filter(|a| a.rsplit('/').next() == Some(name)).collect()
        };
        match matches.as_slice() {
            [one] if one.as_str() == from => {
                self.problems.push(
                    Problem::new("extends_cycle", span.clone(), format!("pane `{from}` extends itself"), "itself")
                        .help("name another pane"),
                );
                None
            }
            [one] => Some((*one).clone()),
            [] => {
                let all: Vec<&str> = panes.iter().map(|(a, _)| a.as_str()).collect();
                let hint = suggest::hint(name, all.iter().copied())
                    .or_else(|| suggest::hint(name, all.iter().filter_map(|a| a.rsplit('/').next())))
                    .unwrap_or_else(|| format!("panes: {}", all.join(", ")));
                let place = file.map(|f| format!(" in `{f}`")).unwrap_or_default();
                self.problems.push(
                    Problem::new(
                        "unknown_extends",
                        span.clone(),
                        format!("extends: no pane `{name}`{place}"),
                        "unknown pane",
                    )
                    .help(hint),
                );
                None
            }
            many => {
                let list: Vec<&str> = many.iter().map(|a| a.as_str()).collect();
                self.problems.push(
                    Problem::new(
                        "ambiguous_extends",
                        span.clone(),
                        format!("extends: `{name}` names several panes: {}", list.join(", ")),
                        "ambiguous",
                    )
                    .help("write the full address, `session/pane`"),
                );
                None
            }
        }
    }

    /// Drops the sessions and panes whose `profiles:` are all off; checks `active` names a
    /// profile the manifest declares. Returns what was switched off.
    fn profiles(&mut self, root: &mut Node, active: &[String]) -> (HashMap<String, Vec<String>>, Vec<String>) {
        let mut declared: Vec<String> = Vec::new();
        let mut disabled: HashMap<String, Vec<String>> = HashMap::new();
        let Some(sessions) = child_mut(root, "sessions") else { return (disabled, declared) };
        let NodeKind::Map(entries) = &mut sessions.kind else { return (disabled, declared) };
        let mut keep_sessions = Vec::new();
        for (skey, mut snode) in std::mem::take(entries) {
            let own = self.take_profiles(&mut snode, &format!("session `{}`", skey.name));
            declared.extend(own.iter().cloned());
            let on = own.is_empty() || own.iter().any(|p| active.contains(p));
            // Panes: under `panes:` or each window's `panes:`.
            let mut pane_lists: Vec<&mut Node> = Vec::new();
            if let NodeKind::Map(fields) = &mut snode.kind {
                for (k, v) in fields.iter_mut() {
                    if k.name == "panes" {
                        pane_lists.push(v);
                    } else if k.name == "windows"
                        && let NodeKind::Map(windows) = &mut v.kind
                    {
                        for (_, w) in windows.iter_mut() {
                            if let Some(p) = child_mut(w, "panes") {
                                pane_lists.push(p);
                            }
                        }
                    }
                }
            }
            let mut emptied = false;
            for list in pane_lists {
                let NodeKind::Map(panes) = &mut list.kind else { continue };
                let before = panes.len();
                let mut kept = Vec::new();
                for (pkey, mut pnode) in std::mem::take(panes) {
                    let theirs = self.take_profiles(&mut pnode, &format!("pane `{}/{}`", skey.name, pkey.name));
                    declared.extend(theirs.iter().cloned());
                    if theirs.is_empty() || theirs.iter().any(|p| active.contains(p)) {
                        kept.push((pkey, pnode));
                    } else {
                        disabled.insert(format!("{}/{}", skey.name, pkey.name), theirs.clone());
                        disabled.entry(pkey.name.clone()).or_insert(theirs);
                    }
                }
                emptied |= before > 0 && kept.is_empty();
                *panes = kept;
            }
            if !on {
                disabled.insert(skey.name.clone(), own);
                continue;
            }
            if emptied {
                // Windows left without panes go; a session left without windows goes.
                if let NodeKind::Map(fields) = &mut snode.kind {
                    if let Some((_, w)) = fields.iter_mut().find(|(k, _)| k.name == "windows")
                        && let NodeKind::Map(windows) = &mut w.kind
                    {
                        windows.retain(|(_, w)| !matches!(child(w, "panes").map(|p| &p.kind), Some(NodeKind::Map(m)) if m.is_empty()));
                    }
                    let empty = fields.iter().all(|(k, v)| {
                        !(k.name == "windows" || k.name == "panes")
                            || matches!(&v.kind, NodeKind::Map(m) if m.is_empty())
                    });
                    if empty {
                        disabled.insert(skey.name.clone(), Vec::new());
                        continue;
                    }
                }
            }
            keep_sessions.push((skey, snode));
        }
        *entries = keep_sessions;
        for name in active {
            if !declared.contains(name) {
                let mut uniq: Vec<&str> = declared.iter().map(String::as_str).collect();
                uniq.sort();
                uniq.dedup();
                let help = suggest::hint(name, uniq.iter().copied()).unwrap_or_else(|| {
                    if uniq.is_empty() {
                        "this manifest declares no profiles (`profiles:` on a session or pane)".into()
                    } else {
                        format!("profiles in this manifest: {}", uniq.join(", "))
                    }
                });
                self.problems.push(Problem {
                    code: "unknown_profile",
                    message: format!("unknown profile `{name}` (from --profile or CTMUX_PROFILES)"),
                    span: None,
                    label: String::new(),
                    help: Some(help),
                    extra: Vec::new(),
                });
            }
        }
        declared.sort();
        declared.dedup();
        (disabled, declared)
    }

    /// Removes and reads a node's `profiles:` (a list of names).
    fn take_profiles(&mut self, node: &mut Node, what: &str) -> Vec<String> {
        let NodeKind::Map(entries) = &mut node.kind else { return Vec::new() };
        let Some(i) = entries.iter().position(|(k, _)| k.name == "profiles") else { return Vec::new() };
        let (_, list) = entries.remove(i);
        let items = match list.kind {
            NodeKind::Seq(items) => items,
            NodeKind::Scalar { .. } => vec![list],
            _ => {
                self.problems.push(
                    Problem::new(
                        "invalid_type",
                        list.span.clone(),
                        format!("{what}.profiles must be a list of names, found {}", list.kind_name()),
                        "expected a list",
                    )
                    .help("write `profiles: [debug]`"),
                );
                return vec![String::new()];
            }
        };
        let mut out = Vec::new();
        for item in items {
            match item.as_scalar() {
                Some(name) if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c)) => {
                    out.push(name.to_string())
                }
                _ => self.problems.push(
                    Problem::new(
                        "invalid_name",
                        item.span.clone(),
                        format!("{what}: invalid profile name"),
                        "invalid name",
                    )
                    .help("profile names use letters, digits, `-`, `_` and `.`"),
                ),
            }
        }
        if out.is_empty() {
            // `profiles: []` is "always on", as no `profiles:` is.
            return Vec::new();
        }
        out
    }
}

/// Merges two manifests: [`merge`] after writing every shorthand session, window and pane in
/// map form, so an overlay that adds `restart:` to a pane written as a command keeps the command.
pub fn merge_manifests(base: Node, over: Node) -> Node {
    merge(expand_shorthands(base), expand_shorthands(over))
}

/// Writes `s: cmd` as `s: {panes: {s: {command: cmd}}}`, a window `w: cmd` as
/// `w: {panes: {w: {command: cmd}}}` and a pane `p: cmd` (or a list, or null) as `p: {command: cmd}`.
fn expand_shorthands(mut root: Node) -> Node {
    fn pane_map(node: &mut Node) {
        if !matches!(node.kind, NodeKind::Map(_)) {
            *node = as_pane_map(node.clone());
        }
    }
    fn wrap(name: &Key, node: &mut Node) {
        let mut inner = node.clone();
        pane_map(&mut inner);
        let pane = Key { name: name.name.clone(), span: name.span.clone() };
        let panes = Key { name: "panes".into(), span: name.span.clone() };
        let span = node.span.clone();
        node.kind = NodeKind::Map(vec![(panes, Node { span: span.clone(), kind: NodeKind::Map(vec![(pane, inner)]) })]);
    }
    fn panes(node: &mut Node) {
        if let NodeKind::Map(panes) = &mut node.kind {
            panes.iter_mut().for_each(|(_, p)| pane_map(p));
        }
    }
    let Some(sessions) = child_mut(&mut root, "sessions") else { return root };
    let NodeKind::Map(sessions) = &mut sessions.kind else { return root };
    for (skey, session) in sessions.iter_mut() {
        if matches!(session.kind, NodeKind::Scalar { .. } | NodeKind::Seq(_)) {
            wrap(skey, session);
        }
        let NodeKind::Map(fields) = &mut session.kind else { continue };
        for (k, v) in fields.iter_mut() {
            if k.name == "panes" {
                panes(v);
            } else if k.name == "windows"
                && let NodeKind::Map(windows) = &mut v.kind
            {
                for (wkey, window) in windows.iter_mut() {
                    if matches!(window.kind, NodeKind::Scalar { .. } | NodeKind::Seq(_)) {
                        wrap(wkey, window);
                    }
                    if let Some(p) = child_mut(window, "panes") {
                        panes(p);
                    }
                }
            }
        }
    }
    root
}

/// Merges `over` onto `base`: maps key by key, anything else replaced (see the module header).
pub fn merge(base: Node, over: Node) -> Node {
    match (base.kind, over.kind) {
        (NodeKind::Map(mut out), NodeKind::Map(later)) => {
            let mut from_later: HashSet<String> = HashSet::new();
            for (k, v) in later {
                // A key twice in one file stays twice, so lowering reports the duplicate.
                let found =
                    if from_later.contains(&k.name) { None } else { out.iter().position(|(e, _)| e.name == k.name) };
                from_later.insert(k.name.clone());
                match found {
                    Some(i) => {
                        let (_, old) = out.remove(i);
                        out.insert(i, (k, merge(old, v)));
                    }
                    None => out.push((k, v)),
                }
            }
            Node { span: over.span, kind: NodeKind::Map(out) }
        }
        (_, kind) => Node { span: over.span, kind },
    }
}

/// Moves every span of `node` by `by`.
fn shift(node: &mut Node, by: usize) {
    node.span = node.span.start + by..node.span.end + by;
    match &mut node.kind {
        NodeKind::Seq(items) => items.iter_mut().for_each(|i| shift(i, by)),
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                k.span = k.span.start + by..k.span.end + by;
                shift(v, by);
            }
        }
        _ => {}
    }
}

/// An included (or extended-from) file's relative paths resolve against its own directory:
/// its top-level `cwd` (or the directory itself) becomes each of its sessions' `cwd`, and its
/// `env_file` entries become absolute.
fn anchor_paths(root: &mut Node, dir: &Path) {
    let NodeKind::Map(entries) = &mut root.kind else { return };
    let mut top = dir.to_path_buf();
    if let Some(i) = entries.iter().position(|(k, _)| k.name == "cwd") {
        if let Some(text) = entries[i].1.as_scalar()
            && !text.starts_with('$')
        {
            top = super::lower::resolve_path(dir, text);
        }
        entries.remove(i);
    }
    for (k, v) in entries.iter_mut() {
        if k.name == "env_file" {
            let items: Vec<&mut Node> = match &mut v.kind {
                NodeKind::Seq(items) => items.iter_mut().collect(),
                NodeKind::Scalar { .. } => vec![v],
                _ => Vec::new(),
            };
            for item in items {
                if let NodeKind::Scalar { text, .. } = &mut item.kind
                    && !text.starts_with('$')
                {
                    *text = super::lower::resolve_path(dir, text).to_string_lossy().into_owned();
                }
            }
        } else if k.name == "sessions"
            && let NodeKind::Map(sessions) = &mut v.kind
        {
            for (skey, snode) in sessions.iter_mut() {
                if matches!(snode.kind, NodeKind::Scalar { .. } | NodeKind::Seq(_)) {
                    // `logs: tail -f x` is `logs: {panes: {logs: tail -f x}}`.
                    let inner = snode.clone();
                    let key = Key { name: "panes".into(), span: skey.span.clone() };
                    let pane = Key { name: skey.name.clone(), span: skey.span.clone() };
                    snode.kind = NodeKind::Map(vec![(
                        key,
                        Node { span: inner.span.clone(), kind: NodeKind::Map(vec![(pane, inner)]) },
                    )]);
                }
                let NodeKind::Map(fields) = &mut snode.kind else { continue };
                let cwd = fields.iter_mut().find(|(k, _)| k.name == "cwd");
                match cwd {
                    Some((_, node)) => {
                        if let NodeKind::Scalar { text, .. } = &mut node.kind
                            && !text.starts_with('$')
                        {
                            *text = super::lower::resolve_path(&top, text).to_string_lossy().into_owned();
                        }
                    }
                    None => fields.push((
                        Key { name: "cwd".into(), span: skey.span.clone() },
                        Node {
                            span: skey.span.clone(),
                            kind: NodeKind::Scalar { text: top.to_string_lossy().into_owned(), quoted: true },
                        },
                    )),
                }
            }
        }
    }
}

/// Every pane of a document with its address and its path (entry indexes through maps).
pub fn pane_paths(root: &Node) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let NodeKind::Map(top) = &root.kind else { return out };
    let Some(si) = top.iter().position(|(k, _)| k.name == "sessions") else { return out };
    let NodeKind::Map(sessions) = &top[si].1.kind else { return out };
    for (i, (skey, snode)) in sessions.iter().enumerate() {
        let s = &skey.name;
        let NodeKind::Map(fields) = &snode.kind else {
            out.push((format!("{s}/{s}"), vec![si, i]));
            continue;
        };
        for (j, (k, v)) in fields.iter().enumerate() {
            match (k.name.as_str(), &v.kind) {
                ("panes", NodeKind::Map(panes)) => {
                    for (p, (pkey, _)) in panes.iter().enumerate() {
                        out.push((format!("{s}/{}", pkey.name), vec![si, i, j, p]));
                    }
                }
                ("windows", NodeKind::Map(windows)) => {
                    for (w, (wkey, wnode)) in windows.iter().enumerate() {
                        let NodeKind::Map(wf) = &wnode.kind else {
                            out.push((format!("{s}/{}", wkey.name), vec![si, i, j, w]));
                            continue;
                        };
                        for (x, (xk, xv)) in wf.iter().enumerate() {
                            if let ("panes", NodeKind::Map(panes)) = (xk.name.as_str(), &xv.kind) {
                                for (p, (pkey, _)) in panes.iter().enumerate() {
                                    out.push((format!("{s}/{}", pkey.name), vec![si, i, j, w, x, p]));
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn at_path<'n>(mut node: &'n Node, path: &[usize]) -> &'n Node {
    for &i in path {
        let NodeKind::Map(entries) = &node.kind else { unreachable!("pane paths go through maps") };
        node = &entries[i].1;
    }
    node
}

fn at_path_mut<'n>(mut node: &'n mut Node, path: &[usize]) -> &'n mut Node {
    for &i in path {
        let NodeKind::Map(entries) = &mut node.kind else { unreachable!("pane paths go through maps") };
        node = &mut entries[i].1;
    }
    node
}

fn has_key(node: &Node, key: &str) -> bool {
    child(node, key).is_some()
}

fn child<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    match &node.kind {
        NodeKind::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
        _ => None,
    }
}

fn child_mut<'n>(node: &'n mut Node, key: &str) -> Option<&'n mut Node> {
    match &mut node.kind {
        NodeKind::Map(entries) => entries.iter_mut().find(|(k, _)| k.name == key).map(|(_, v)| v),
        _ => None,
    }
}

/// A pane in map form: a string or list is its `command`, null an empty map.
fn as_pane_map(node: Node) -> Node {
    match node.kind {
        NodeKind::Map(_) => node,
        NodeKind::Null => Node { span: node.span, kind: NodeKind::Map(Vec::new()) },
        kind => {
            let key = Key { name: "command".into(), span: node.span.clone() };
            Node { span: node.span.clone(), kind: NodeKind::Map(vec![(key, Node { span: node.span, kind })]) }
        }
    }
}

/// A path as messages show it: relative to the current directory when beneath it.
fn short(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    cwd.as_ref().and_then(|c| path.strip_prefix(c).ok()).unwrap_or(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Node {
        super::super::yaml::parse(text).unwrap()
    }

    #[test]
    fn maps_merge_and_scalars_and_lists_are_replaced() {
        let a = yaml("x: {a: 1, b: [1, 2], c: {d: 1}}\ny: 1\n");
        let b = yaml("x: {b: [3], c: {e: 2}, f: 4}\ny: [9]\n");
        let m = merge(a, b);
        let x = child(&m, "x").unwrap();
        let names: Vec<&str> = match &x.kind {
            NodeKind::Map(e) => e.iter().map(|(k, _)| k.name.as_str()).collect(),
            _ => panic!(),
        };
        assert_eq!(names, ["a", "b", "c", "f"]);
        assert!(matches!(&child(x, "b").unwrap().kind, NodeKind::Seq(v) if v.len() == 1));
        let c = child(x, "c").unwrap();
        assert!(child(c, "d").is_some() && child(c, "e").is_some());
        assert!(matches!(&child(&m, "y").unwrap().kind, NodeKind::Seq(_)));
    }
}
