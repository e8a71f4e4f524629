//! The `ctmux.yaml` manifest: find it, read it (YAML or TOML), lower it to a [`model::Project`].
//!
//! Loading either returns a fully valid project or a [`ManifestError`] listing every problem;
//! nothing downstream ever sees a half-valid manifest.

pub mod compose;
pub mod config;
pub mod deps;
pub mod diagnostic;
pub mod hooks;
pub mod interpolate;
pub mod lower;
pub mod model;
pub mod node;
pub mod options;
pub mod pane;
pub mod reader;
pub mod schema;
pub mod spellings;
pub mod toml;
pub mod watch;
pub mod yaml;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
    /// The first file's text: verbs hand exactly this to the daemon, so it acts on the
    /// version they read (see `daemon/manifests.rs`; the rest of a composition it reads itself).
    pub text: String,
    /// The composed document before lowering (what `config -v` traces values back to).
    pub tree: node::Node,
    /// The files the tree's spans point into.
    pub sources: Vec<diagnostic::SourceFile>,
    /// Every file read: manifests, includes, extends, env files (what `up --watch` follows).
    pub read: Vec<PathBuf>,
    /// Every profile a `profiles:` declares (active or not), sorted.
    pub profiles: Vec<String>,
}

/// The manifest files to compose: the `-f` files if any, else the one [`discover`] finds.
pub fn discover_all(explicit: &[PathBuf], start: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    if explicit.is_empty() { Ok(vec![discover(None, start)?]) } else { Ok(explicit.to_vec()) }
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

/// Reads and lowers the manifest at `path`, with `env` as the process environment. When `env`
/// carries [`compose::COMPOSE_VAR`] (a daemon reloading what a verb composed), the files,
/// profiles and env files recorded there are composed instead.
pub fn load(path: &Path, env: &HashMap<String, String>) -> Result<Loaded, ManifestError> {
    let options = env
        .get(compose::COMPOSE_VAR)
        .and_then(|json| serde_json::from_str::<compose::Options>(json).ok())
        .filter(|o| !o.files.is_empty())
        .unwrap_or_else(|| compose::Options { files: vec![path.to_path_buf()], ..Default::default() });
    load_with(&options, env)
}

/// Composes and lowers the manifest `options` name (its `files` must be given: see
/// [`discover`]); `env` is the process environment.
pub fn load_with(options: &compose::Options, env: &HashMap<String, String>) -> Result<Loaded, ManifestError> {
    compose_and_lower(options, None, env)
}

/// [`load_with`], with the first file's text and anchor given instead of read.
fn compose_and_lower(
    options: &compose::Options,
    given: Option<compose::Given>,
    env: &HashMap<String, String>,
) -> Result<Loaded, ManifestError> {
    let options = options.clone().with_env_profiles(env);
    let composed = compose::compose(&options.files, given, &options.profiles)?;
    let mut problems = composed.problems;
    let mut read = composed.read;
    let profiles = composed.profiles;
    let dir = composed.first.parent().unwrap_or(Path::new("/")).to_path_buf();
    // `.env` beside the first manifest, or `--env-file`: for interpolation only, as in compose.
    let (dotenv_files, required) = match &options.env_files {
        Some(files) => (files.clone(), true),
        None => (vec![dir.join(".env")], false),
    };
    let mut dotenv: Vec<(String, String)> = Vec::new();
    for file in dotenv_files {
        if !required && !file.exists() {
            continue;
        }
        read.push(std::path::absolute(&file).unwrap_or_else(|_| file.clone()));
        let file_problem = |message: String, help: &str| Problem {
            code: "env_file",
            message,
            span: None,
            label: String::new(),
            help: Some(help.into()),
            extra: Vec::new(),
        };
        match read_env_file(&file) {
            Ok(bytes) => {
                for item in dotenvy::from_read_iter(bytes.as_slice()) {
                    match item {
                        Ok(kv) => dotenv.push(kv),
                        Err(e) => problems.push(file_problem(
                            format!("{}: {}", file.display(), env_error(&bytes, &e)),
                            "env files hold NAME=value lines; `#` starts a comment",
                        )),
                    }
                }
            }
            Err((reason, _)) => problems.push(file_problem(
                format!("cannot read env file {}: {reason}", file.display()),
                "--env-file paths are relative to the current directory",
            )),
        }
    }
    let mut vars = env.clone();
    for (k, v) in dotenv {
        // The process environment wins over `.env`, as in compose.
        vars.entry(k).or_insert(v);
    }
    let sources = composed.sources;
    let mut reader = Reader {
        source: &sources.text,
        vars,
        env_names: Default::default(),
        problems,
        warnings: Vec::new(),
        disabled: composed.disabled,
        scale: options.scale.iter().cloned().collect(),
        scale_used: Default::default(),
        replicas: Default::default(),
        ports: Vec::new(),
        interpolated: Vec::new(),
    };
    let root = composed.root;
    read_ports(&mut reader, &root, &options.ports);
    let env_file_vars = load_env_files(&mut reader, &root, &dir);
    for (k, v) in &env_file_vars {
        reader.vars.entry(k.clone()).or_insert_with(|| v.clone());
    }
    reader.env_names = declared_env_names(&root);
    let lowered = lower::lower(&mut reader, &root, &composed.first, &env_file_vars);
    for (name, _) in &options.scale {
        if !reader.scale_used.contains(name) {
            reader.problems.push(Problem {
                code: "unknown_scale",
                message: format!("--scale {name}: no pane `{name}` in the manifest"),
                span: None,
                label: String::new(),
                help: Some("--scale takes a pane name or `session/pane` and a count: `--scale worker=3`".into()),
                extra: Vec::new(),
            });
        }
    }
    // No error shows an interpolated value (a secret from the environment or an env file).
    reader::redact(&mut reader.problems, &reader.interpolated, reader.source);
    reader::redact(&mut reader.warnings, &reader.interpolated, reader.source);
    let warnings = sources.error(std::mem::take(&mut reader.warnings));
    match lowered {
        Some(mut l) if reader.problems.is_empty() => {
            if options.is_composed() {
                l.project.compose = Some(options.to_json());
            }
            Ok(Loaded {
                project: l.project,
                warnings,
                text: composed.first_text,
                tree: root,
                sources: sources.files,
                read,
                profiles,
            })
        }
        _ => Err(sources.error(reader.problems)),
    }
}

/// Lowers manifest `text` (with its `include:`s and `extends:`); `shown` names the file in
/// messages, `absolute` anchors relative paths.
pub fn parse(
    text: &str,
    shown: &Path,
    absolute: &Path,
    env: &HashMap<String, String>,
) -> Result<Loaded, ManifestError> {
    // A daemon re-reading what a verb composed keeps the composition, with `text` as its first file.
    let options = env
        .get(compose::COMPOSE_VAR)
        .and_then(|json| serde_json::from_str::<compose::Options>(json).ok())
        .filter(|o| !o.files.is_empty())
        .unwrap_or_else(|| compose::Options { files: vec![shown.to_path_buf()], ..Default::default() });
    compose_and_lower(&options, Some((text.to_string(), absolute.to_path_buf())), env)
}

/// Reads every pane's `ports:` before lowering: allocation comes before interpolation, so
/// `${PORT_<NAME>}` works anywhere in the manifest. `allocated` holds the `auto` ones' ports.
fn read_ports(reader: &mut Reader<'_>, root: &node::Node, allocated: &[(String, u16)]) {
    for (address, path) in compose::pane_paths(root) {
        let mut pane = root;
        for &i in &path {
            let node::NodeKind::Map(entries) = &pane.kind else { break };
            pane = &entries[i].1;
        }
        let node::NodeKind::Map(fields) = &pane.kind else { continue };
        let Some((_, ports)) = fields.iter().find(|(k, _)| k.name == "ports") else { continue };
        let Some(entries) = reader.entries(ports, &format!("pane `{address}`.ports")) else { continue };
        for (key, value) in entries {
            let name = key.name.clone();
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                reader.problem(
                    Problem::new(
                        "invalid_name",
                        key.span.clone(),
                        format!("invalid port name `{name}`"),
                        "invalid name",
                    )
                    .help("a port name becomes PORT_<NAME>: letters, digits and `_`, not starting with a digit"),
                );
                continue;
            }
            if let Some(first) = reader.ports.iter().find(|p| p.name.eq_ignore_ascii_case(&name)) {
                reader.problem(
                    Problem::new(
                        "duplicate_name",
                        key.span.clone(),
                        format!("port `{name}` is also declared by pane `{}`", first.pane),
                        "declared again",
                    )
                    .help("PORT_<NAME> is one variable for the whole manifest: give each port its own name"),
                );
                continue;
            }
            let text = value.as_scalar().unwrap_or_default().trim().to_string();
            let (auto, port) = if text == "auto" {
                (true, allocated.iter().find(|(n, _)| *n == name).map_or(0, |(_, p)| *p))
            } else {
                match text.parse::<u16>() {
                    Ok(p) if p > 0 => (false, p),
                    _ => {
                        reader.problem(
                            Problem::new(
                                "invalid_value",
                                value.span.clone(),
                                format!("port `{name}`: `{text}` is not `auto` or a port number"),
                                "not a port",
                            )
                            .help(
                                "write `auto` (a free port, allocated at the first `up`) or a number from 1 to 65535",
                            ),
                        );
                        continue;
                    }
                }
            };
            let port = model::Port { name, pane: address.clone(), auto, port };
            // The allocation wins over the environment: it is what the pane gets.
            reader.vars.insert(port.var(), port.port.to_string());
            reader.ports.push(port);
        }
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
                    Problem::new(
                        "env_file",
                        node.span.clone(),
                        format!("env_file `{file}`: {}", env_error(&bytes, &e)),
                        "in this file",
                    )
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

/// Set (to `1`) by `ctmux mcp` on the `validate` it runs for a client: every file that load
/// reads (manifests, includes, extends, env files) must then be a regular file with one link
/// beneath the first manifest's directory, so a client cannot make errors quote other files.
pub const CONFINE_VAR: &str = "CTMUX_VALIDATE_CONFINED";

static CONFINE: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

/// With [`CONFINE_VAR`] set, makes `first`'s directory the only one files are read from.
fn confine_to(first: &Path) {
    if std::env::var_os(CONFINE_VAR).is_some_and(|v| v == "1") {
        let dir = first.parent().unwrap_or(Path::new("/"));
        let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        *CONFINE.lock().unwrap_or_else(|e| e.into_inner()) = Some(root);
    }
}

/// The directory loads are confined to, when they are.
fn confine_root() -> Option<PathBuf> {
    CONFINE.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// An env file's parse error without the file's content: its line number only (a line of an
/// env file may hold a secret, or be a line of whatever file was named as one).
fn env_error(bytes: &[u8], e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(line, _) => {
            let text = String::from_utf8_lossy(bytes);
            match text.find(line.as_str()) {
                Some(at) => format!(
                    "line {} is not NAME=value (its content is not shown)",
                    text[..at].matches('\n').count() + 1
                ),
                None => "a line is not NAME=value (its content is not shown)".into(),
            }
        }
        dotenvy::Error::Io(e) => e.to_string(),
        _ => "it is not a valid env file (its content is not shown)".into(),
    }
}

/// Largest manifest file read, in bytes.
pub const MANIFEST_MAX: u64 = 16 * 1024 * 1024;

/// Reads `path` (after symlinks) if it is a regular file of at most `max` bytes. It is opened
/// with `O_NONBLOCK`, so a FIFO or a device named as a manifest or env file is refused at once
/// instead of blocking `validate`, `config` and `plan` in open(2).
pub fn read_regular(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt};
    let refused = |why: String| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why);
    let confined = confine_root();
    // Confined, the file opened is the one every link resolves to, and it must lie beneath the
    // root; O_NOFOLLOW then refuses a link swapped in since.
    let path = match &confined {
        Some(root) => {
            let real = std::fs::canonicalize(path)?;
            if !real.starts_with(root) {
                return Err(refused(format!(
                    "outside the manifest's directory {} (an MCP client's validate reads no other file)",
                    root.display()
                )));
            }
            real
        }
        None => path.to_path_buf(),
    };
    let nofollow = if confined.is_some() { libc::O_NOFOLLOW } else { 0 };
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | nofollow).open(&path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    if confined.is_some() && meta.nlink() > 1 {
        return Err(refused(format!(
            "{} has {} hard links, so it may be another file (an MCP client's validate reads no such file)",
            path.display(),
            meta.nlink()
        )));
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
