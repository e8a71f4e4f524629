//! The `ctmux.yaml` manifest: find it, read it (YAML or TOML), lower it to a [`model::Project`].
//!
//! Loading either returns a fully valid project or a [`ManifestError`] listing every problem;
//! nothing downstream ever sees a half-valid manifest.

pub mod config;
pub mod deps;
pub mod diagnostic;
pub mod interpolate;
pub mod lower;
pub mod model;
pub mod node;
pub mod pane;
pub mod reader;
pub mod schema;
pub mod spellings;
pub mod toml;
pub mod yaml;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use diagnostic::{ManifestError, Problem};
use model::Project;
use reader::Reader;

/// File names searched for, in order, in the current directory and its parents.
pub const FILE_NAMES: [&str; 3] = ["ctmux.yaml", "ctmux.yml", "ctmux.toml"];

/// A loaded manifest and the warnings found while loading it.
#[derive(Debug)]
pub struct Loaded {
    /// The resolved project.
    pub project: Project,
    /// Non-fatal problems (unset variables), rendered like errors but not failing.
    pub warnings: ManifestError,
    /// The text it was lowered from: verbs hand exactly this to the daemon, so it acts on the
    /// version they read (see `daemon/manifests.rs`).
    pub text: String,
}

/// Finds the manifest: `explicit` if given, else the first of [`FILE_NAMES`] walking up from `start`.
pub fn discover(explicit: Option<&Path>, start: &Path) -> Result<PathBuf, ManifestError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let mut dir = Some(start);
    while let Some(d) = dir {
        for name in FILE_NAMES {
            let candidate = d.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
        dir = d.parent();
    }
    Err(ManifestError::file_problem(
        Path::new("ctmux.yaml"),
        "not_found",
        format!("no ctmux.yaml, ctmux.yml or ctmux.toml in {} or its parents", start.display()),
        Some("create one (see examples/quickstart.yaml) or pass -f FILE".into()),
    ))
}

/// Reads and lowers the manifest at `path`, with `env` as the process environment.
pub fn load(path: &Path, env: &HashMap<String, String>) -> Result<Loaded, ManifestError> {
    let text = read_regular(path, MANIFEST_MAX)
        .and_then(|b| String::from_utf8(b).map_err(|_| std::io::Error::other("it is not UTF-8 text")))
        .map_err(|e| {
            ManifestError::file_problem(path, "unreadable", format!("cannot read {}: {e}", path.display()), None)
        })?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    parse(&text, path, &absolute, env)
}

/// Lowers manifest `text`; `shown` names the file in messages, `absolute` anchors relative paths.
pub fn parse(
    text: &str,
    shown: &Path,
    absolute: &Path,
    env: &HashMap<String, String>,
) -> Result<Loaded, ManifestError> {
    let source = Arc::new(text.to_string());
    let is_toml = shown.extension().is_some_and(|e| e == "toml");
    let root = if is_toml { toml::parse(text) } else { yaml::parse(text) };
    let root = root.map_err(|e| {
        let end = (e.offset + 1).min(text.len()).max(e.offset);
        let problem = if e.message.starts_with(yaml::ALIAS_LIMIT) {
            let end = (e.offset + 2).min(text.len()).max(e.offset);
            Problem::new("too_large", e.offset..end, e.message.clone(), "this alias crosses the limit")
                .help("aliases are for sharing a few values; a document that multiplies itself is refused")
        } else {
            Problem::new(
                "syntax",
                e.offset..end,
                format!("{} syntax error: {}", if is_toml { "TOML" } else { "YAML" }, e.message),
                "here",
            )
            .help("fix the syntax; `ctmux validate` checks the file without touching tmux")
        };
        ManifestError::new(shown, source.clone(), vec![problem])
    })?;

    let mut reader = Reader {
        source: text,
        vars: env.clone(),
        env_names: Default::default(),
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let dir = absolute.parent().unwrap_or(Path::new("/")).to_path_buf();
    let env_file_vars = load_env_files(&mut reader, &root, &dir);
    for (k, v) in &env_file_vars {
        // The process environment wins over env_file, as in compose.
        reader.vars.entry(k.clone()).or_insert_with(|| v.clone());
    }
    reader.env_names = declared_env_names(&root);
    let lowered = lower::lower(&mut reader, &root, absolute, &env_file_vars);
    let warnings = ManifestError::new(shown, source.clone(), std::mem::take(&mut reader.warnings));
    match lowered {
        Some(l) if reader.problems.is_empty() => Ok(Loaded { project: l.project, warnings, text: text.to_string() }),
        _ => Err(ManifestError::new(shown, source, reader.problems)),
    }
}

/// Reads `env_file` entries (dotenv syntax) relative to the manifest directory.
fn load_env_files(reader: &mut Reader<'_>, root: &node::Node, dir: &Path) -> Vec<(String, String)> {
    let node::NodeKind::Map(entries) = &root.kind else {
        return Vec::new();
    };
    let Some((_, node)) = entries.iter().find(|(k, _)| k.name == "env_file") else {
        return Vec::new();
    };
    let Some(files) = reader.string_list(node, "env_file") else {
        return Vec::new();
    };
    let mut vars = Vec::new();
    for file in files {
        let path = lower::resolve_path(dir, &file);
        let bytes = match read_env_file(&path) {
            Ok(bytes) => bytes,
            Err((reason, missing)) => {
                reader.problem(
                    Problem::new(
                        "env_file",
                        node.span.clone(),
                        format!("cannot read env_file `{file}`: {reason}"),
                        "cannot read",
                    )
                    .help(if missing {
                        "paths are relative to the manifest's directory"
                    } else {
                        "an env file is a regular file of at most 1 MiB"
                    }),
                );
                continue;
            }
        };
        for item in dotenvy::from_read_iter(bytes.as_slice()) {
            match item {
                Ok(kv) => vars.push(kv),
                Err(e) => reader.problem(
                    Problem::new("env_file", node.span.clone(), format!("env_file `{file}`: {e}"), "in this file")
                        .help("env files hold NAME=value lines; `#` starts a comment"),
                ),
            }
        }
    }
    vars
}

/// An env file is read only up to this size (`env_file: /dev/zero` read 2 GB).
pub const ENV_FILE_MAX: u64 = 1024 * 1024;

/// Reads an env file: a regular file (after symlinks) of at most [`ENV_FILE_MAX`] bytes. The
/// error says why, and whether the file is simply missing.
fn read_env_file(path: &Path) -> Result<Vec<u8>, (String, bool)> {
    let reason = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => ("no such file".to_string(), true),
        _ => (e.to_string().split(" (os error").next().unwrap_or_default().to_string(), false),
    };
    read_regular(path, ENV_FILE_MAX).map_err(reason)
}

/// Largest manifest file read, in bytes.
pub const MANIFEST_MAX: u64 = 16 * 1024 * 1024;

/// Reads `path` (after symlinks) if it is a regular file of at most `max` bytes. It is opened
/// with `O_NONBLOCK`, so a FIFO or a device named as a manifest or env file is refused at once
/// instead of blocking `validate`, `config` and `plan` in open(2).
pub fn read_regular(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("larger than {} KiB", max / 1024)));
    }
    Ok(bytes)
}

/// Every variable name set by an `env:` anywhere in the manifest.
fn declared_env_names(root: &node::Node) -> std::collections::HashSet<String> {
    fn walk(node: &node::Node, out: &mut std::collections::HashSet<String>) {
        match &node.kind {
            node::NodeKind::Map(entries) => {
                for (k, v) in entries {
                    if k.name == "env"
                        && let node::NodeKind::Map(vars) = &v.kind
                    {
                        out.extend(vars.iter().map(|(k, _)| k.name.clone()));
                    }
                    walk(v, out);
                }
            }
            node::NodeKind::Seq(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = std::collections::HashSet::new();
    walk(root, &mut out);
    out
}
