//! Managed panes as their manifest meant them: the pane's spec is read from the manifest its
//! session's `@ctmux-manifest` names, not guessed from processes.
//!
//! Variables stay references: the manifest is lowered a second time with every variable it
//! mentions bound to a marker, so `${DB_PASSWORD}` (or `${PORT:-8080}`) is written as it is in
//! the manifest, never as the secret it held when `up` ran. Values that came from `env_file` are left to the `env_file`
//! itself, which the snapshot names instead of copying.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::manifest::model::{Pane, Project};

use crate::manifest::interpolate::{REFERENCE_CLOSE as CLOSE, REFERENCE_OPEN as OPEN};

/// One manifest, loaded twice: with markers (for text) and with the environment (for paths).
pub struct Source {
    marked: Option<Project>,
    real: Project,
    /// `env_file` paths, absolute.
    pub env_files: Vec<PathBuf>,
    env_file_vars: Vec<(String, String)>,
}

/// Manifests by path, each loaded once.
#[derive(Default)]
pub struct Sources {
    loaded: HashMap<PathBuf, Option<Source>>,
}

impl Sources {
    /// The manifest at `path`, or `None` when it cannot be loaded now (moved, broken).
    pub fn get(&mut self, path: &str) -> Option<&Source> {
        let path = PathBuf::from(path);
        self.loaded.entry(path.clone()).or_insert_with(|| Source::load(&path)).as_ref()
    }

    /// The manifests' own projects (each loaded once), for what belongs to no session: global
    /// options, groups, autosave.
    pub fn projects(&self) -> Vec<&Project> {
        self.loaded.values().flatten().map(|s| &s.real).collect()
    }

    /// Every env file named by the manifests used.
    pub fn env_files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for f in self.loaded.values().flatten().flat_map(|s| &s.env_files) {
            if !out.contains(f) {
                out.push(f.clone());
            }
        }
        out
    }
}

impl Source {
    fn load(path: &Path) -> Option<Source> {
        let text = std::fs::read_to_string(path).ok()?;
        let env: HashMap<String, String> = std::env::vars().collect();
        let real = crate::manifest::parse(&text, path, path, &env).ok()?.project;
        let marked_env: HashMap<String, String> =
            referenced_names(&text).into_iter().map(|n| (n.clone(), format!("{OPEN}{n}{CLOSE}"))).collect();
        let marked = crate::manifest::parse(&text, path, path, &marked_env).ok().map(|l| l.project);
        let (env_files, env_file_vars) = env_files(&text, path);
        Some(Source { marked, real, env_files, env_file_vars })
    }

    /// The project name.
    pub fn name(&self) -> &str {
        &self.real.name
    }

    /// The pane at `address` in long form, with variable references kept; `None` when the
    /// manifest no longer has it. The flag says whether references could be kept.
    pub fn pane(&self, address: &str) -> Option<(Pane, Value, bool)> {
        let real = self.real.pane(address)?;
        let (mut pane, kept) = match self.marked.as_ref().and_then(|m| m.pane(address)) {
            Some(marked) => (marked.clone(), true),
            None => (real.clone(), false),
        };
        // Paths are resolved now: a snapshot is read from anywhere.
        pane.cwd = real.cwd.clone();
        pane.env.retain(|k, v| !self.env_file_vars.iter().any(|(fk, fv)| fk == k && fv == v));
        let mut value = crate::manifest::config::pane(&pane);
        unmark(&mut value);
        Some((pane, value, kept))
    }
}

/// Names of the variables `$NAME` / `${NAME…}` that `text` mentions.
fn referenced_names(text: &str) -> Vec<String> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)").expect("valid regex"));
    let mut names: Vec<String> = re.captures_iter(text).map(|c| c[1].to_string()).collect();
    names.sort();
    names.dedup();
    names
}

/// Turns marked references back into the manifest's text (`${NAME:-default}` as written) in
/// every string of `value`, where `$` was escaped as `$$` everywhere, the references included.
fn unmark(value: &mut Value) {
    match value {
        Value::String(s) if s.contains(OPEN) => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(open) = rest.find(OPEN) {
                out.push_str(&rest[..open]);
                let after = &rest[open + OPEN.len_utf8()..];
                let close = after.find(CLOSE).unwrap_or(after.len());
                out.push_str(&after[..close].replace("$$", "$"));
                rest = after.get(close + CLOSE.len_utf8()..).unwrap_or("");
            }
            out.push_str(rest);
            *s = out;
        }
        Value::Array(items) => items.iter_mut().for_each(unmark),
        Value::Object(map) => map.values_mut().for_each(unmark),
        _ => {}
    }
}

/// The manifest's `env_file` entries (absolute) and the variables they hold.
fn env_files(text: &str, path: &Path) -> (Vec<PathBuf>, Vec<(String, String)>) {
    use crate::manifest::node::NodeKind;
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    let root = if is_toml { crate::manifest::toml::parse(text) } else { crate::manifest::yaml::parse(text) };
    let Ok(root) = root else { return (Vec::new(), Vec::new()) };
    let NodeKind::Map(entries) = &root.kind else { return (Vec::new(), Vec::new()) };
    let Some((_, node)) = entries.iter().find(|(k, _)| k.name == "env_file") else {
        return (Vec::new(), Vec::new());
    };
    let names: Vec<String> = match &node.kind {
        NodeKind::Scalar { text, .. } => vec![text.clone()],
        NodeKind::Seq(items) => items.iter().filter_map(|i| i.as_scalar().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    let files: Vec<PathBuf> = names.iter().map(|n| crate::manifest::lower::resolve_path(dir, n)).collect();
    let vars =
        files.iter().filter_map(|f| dotenvy::from_path_iter(f).ok()).flat_map(|it| it.filter_map(Result::ok)).collect();
    (files, vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_stay_references_and_literal_dollars_stay_escaped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctmux.yaml");
        std::fs::write(
            &path,
            "version: 1\nname: t\nsessions:\n  app:\n    panes:\n      api:\n        command: 'serve --price $$5 --key ${API_KEY:-dev}'\n        env: { TOKEN: \"${SECRET_TOKEN}\", PLAIN: x, MODS: \"$$HOME $A ${B:+on} ${HOME:?need HOME} ${D:-${E}-$$x}\" }\n",
        )
        .unwrap();
        let source = Source::load(&path).unwrap();
        let (_, value, kept) = source.pane("app/api").unwrap();
        assert!(kept);
        assert_eq!(value["command"], "serve --price $$5 --key ${API_KEY:-dev}");
        assert_eq!(value["env"]["TOKEN"], "${SECRET_TOKEN}");
        assert_eq!(value["env"]["PLAIN"], "x");
        // The manifest's text, modifiers and nesting included (`${B:+on}` was `on`, `${HOME:?…}` `${HOME}`).
        assert_eq!(value["env"]["MODS"], "$$HOME $A ${B:+on} ${HOME:?need HOME} ${D:-${E}-$$x}");
    }
}
