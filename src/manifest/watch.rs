//! A pane's `watch:` — lowering (a list of globs, or `{paths, ignore, debounce, cascade}`) and
//! the [`Matcher`] the daemon uses to decide which file changes concern the pane and which
//! directories to watch.
//!
//! Matching rules (documented in docs/manifest.md, `watch`): a relative glob is relative to the
//! pane's `cwd`; `*` and `?` never cross a `/`, `**` does; a path without glob characters
//! matches that file or everything under that directory. An `ignore` glob without a `/` matches
//! a file or directory name at any depth (as in `.gitignore`). Changes under a `.git`, `target`
//! or `node_modules` directory below where a glob starts are ignored unless the glob names that
//! directory itself.

use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

use super::diagnostic::Problem;
use super::model::{DEFAULT_WATCH_DEBOUNCE, Watch};
use super::node::{Node, NodeKind};
use super::reader::Reader;

/// Keys of `watch:` in its map form.
pub const WATCH_KEYS: &[&str] = &["paths", "ignore", "debounce", "cascade"];

/// Directories whose changes are ignored unless a glob names them: version control, build
/// output and dependencies, which change in storms and are rarely what a restart is for.
pub const DEFAULT_IGNORED: &[&str] = &[".git", "target", "node_modules"];

/// Lowers `watch:` of pane `what` (whose working directory is `cwd`).
pub fn lower_watch(reader: &mut Reader<'_>, node: &Node, what: &str, cwd: &Path) -> Option<Watch> {
    let key = format!("{what}.watch");
    let mut watch = Watch { paths: Vec::new(), ignore: Vec::new(), debounce: DEFAULT_WATCH_DEBOUNCE, cascade: false };
    let mut paths_node = node;
    let mut ignore_node = None;
    match &node.kind {
        NodeKind::Seq(_) | NodeKind::Scalar { .. } => watch.paths = reader.string_list(node, &key)?,
        NodeKind::Map(_) => {
            let f = reader.fields(node, &key, WATCH_KEYS)?;
            match f.get("paths") {
                Some(n) => {
                    paths_node = n;
                    watch.paths = reader.string_list(n, &format!("{key}.paths"))?;
                }
                None => {
                    reader.problem(
                        Problem::new("missing_key", node.span.clone(), format!("{key} has no `paths`"), "no paths")
                            .help("write `watch: { paths: [\"src/**/*.py\"] }` (or just `watch: [\"src/**/*.py\"]`)"),
                    );
                    return None;
                }
            }
            if let Some(n) = f.get("ignore") {
                ignore_node = Some(n);
                watch.ignore = reader.string_list(n, &format!("{key}.ignore"))?;
            }
            if let Some(d) = f.get("debounce").and_then(|n| reader.duration(n, &format!("{key}.debounce"))) {
                watch.debounce = d;
            }
            watch.cascade = f.get("cascade").and_then(|n| reader.bool(n, &format!("{key}.cascade"))).unwrap_or(false);
        }
        _ => {
            reader.problem(
                Problem::new(
                    "invalid_type",
                    node.span.clone(),
                    format!("{key}: expected a list of globs or a map, found {}", node.kind_name()),
                    "not a list or a map",
                )
                .help("write `watch: [\"src/**/*.py\"]` or `watch: { paths: [...], ignore: [...], debounce: 500ms, cascade: true }`"),
            );
            return None;
        }
    }
    let mut ok = true;
    if watch.paths.iter().all(|p| p.trim().is_empty()) {
        reader.problem(
            Problem::new("invalid_value", paths_node.span.clone(), format!("{key} has no paths"), "empty")
                .help("name at least one glob, such as `src/**/*.py`"),
        );
        ok = false;
    }
    for (list, at) in [(&watch.paths, paths_node), (&watch.ignore, ignore_node.unwrap_or(node))] {
        for glob in list {
            if let Err(e) = Pattern::new(glob, cwd, false) {
                reader.problem(
                    Problem::new(
                        "invalid_value",
                        at.span.clone(),
                        format!("{key}: bad glob `{glob}`: {e}"),
                        "bad glob",
                    )
                    .help("globs use `*`, `?`, `**`, `[abc]` and `{a,b}`; `*` does not cross `/`"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(watch)
}

/// Whether `text` has glob syntax.
fn has_glob(text: &str) -> bool {
    text.contains(['*', '?', '[', '{', '\\'])
}

/// One compiled glob of `paths` or `ignore`.
#[derive(Debug, Clone)]
struct Pattern {
    /// What a path is made relative to before matching (the pane's cwd, or `/`).
    base: PathBuf,
    /// The part of the glob before its first glob character, as a directory under `base`.
    prefix: PathBuf,
    /// Matches a relative path; `None` for a literal path (matches it and what is below it).
    glob: Option<GlobMatcher>,
    /// Match the last component only (an `ignore` glob without `/`).
    name_only: bool,
}

impl Pattern {
    fn new(text: &str, cwd: &Path, ignore: bool) -> Result<Pattern, String> {
        let text = text.trim();
        let (base, rel) = match text.strip_prefix('/') {
            Some(rest) => (PathBuf::from("/"), rest.to_string()),
            None => (cwd.to_path_buf(), text.strip_prefix("./").unwrap_or(text).to_string()),
        };
        let rel = rel.trim_end_matches('/').to_string();
        if rel.is_empty() || rel.split('/').any(|c| c == "..") {
            return Err("name a path below the pane's cwd (or an absolute one), without `..`".into());
        }
        let name_only = ignore && !rel.contains('/');
        let prefix: PathBuf =
            if has_glob(&rel) { rel.split('/').take_while(|c| !has_glob(c)).collect() } else { PathBuf::from(&rel) };
        let glob = if has_glob(&rel) {
            Some(
                GlobBuilder::new(&rel)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| e.kind().to_string())?
                    .compile_matcher(),
            )
        } else {
            None
        };
        Ok(Pattern { base, prefix, glob, name_only })
    }

    /// Whether `path` (absolute) matches; `Some(rest)` gives the components below the prefix.
    fn matches(&self, path: &Path) -> bool {
        if self.name_only {
            return path.components().any(|c| match (c, &self.glob) {
                (Component::Normal(name), Some(g)) => g.is_match(name),
                (Component::Normal(name), None) => Path::new(name) == self.prefix,
                _ => false,
            });
        }
        let Ok(rel) = path.strip_prefix(&self.base) else { return false };
        match &self.glob {
            Some(g) => g.is_match(rel),
            None => rel.starts_with(&self.prefix),
        }
    }

    /// Whether `path` lies in a default-ignored directory below where this glob starts.
    fn in_ignored_dir(&self, path: &Path) -> bool {
        let Ok(rest) = path.strip_prefix(self.base.join(&self.prefix)) else { return false };
        let mut dirs: Vec<Component<'_>> = rest.components().collect();
        dirs.pop();
        dirs.iter().any(|c| matches!(c, Component::Normal(n) if DEFAULT_IGNORED.iter().any(|d| *n == *d)))
    }
}

/// A pane's `watch:` compiled against its cwd: which changes concern it, and where to look.
#[derive(Debug, Clone)]
pub struct Matcher {
    paths: Vec<Pattern>,
    ignore: Vec<Pattern>,
}

impl Matcher {
    /// Compiles `watch` for a pane whose cwd is `cwd` (globs were checked when it was lowered).
    pub fn new(watch: &Watch, cwd: &Path) -> Result<Matcher, String> {
        let paths = watch.paths.iter().map(|p| Pattern::new(p, cwd, false)).collect::<Result<_, _>>()?;
        let ignore = watch.ignore.iter().map(|p| Pattern::new(p, cwd, true)).collect::<Result<_, _>>()?;
        Ok(Matcher { paths, ignore })
    }

    /// Whether a change of `path` (absolute) should restart the pane.
    pub fn matches(&self, path: &Path) -> bool {
        self.paths.iter().any(|p| p.matches(path) && !p.in_ignored_dir(path))
            && !self.ignore.iter().any(|p| p.matches(path))
    }

    /// The directories to watch, and whether recursively: where each glob starts (its parent
    /// when that is a file or does not exist yet), recursively when the glob reaches below it.
    /// Editors save by writing a new file and renaming it over the old one, so a directory is
    /// watched, never the file itself.
    pub fn dirs(&self) -> Vec<(PathBuf, bool)> {
        let mut out: Vec<(PathBuf, bool)> = Vec::new();
        for p in &self.paths {
            let start = p.base.join(&p.prefix);
            let (dir, recursive) = match &p.glob {
                // `src/*.py` needs `src` only; `src/**/*.py` or `*/x.py` everything below it.
                Some(_) => {
                    let below = p.base.join(&p.prefix);
                    let rest = p.glob.as_ref().map(|g| g.glob().glob().to_string()).unwrap_or_default();
                    let after =
                        rest.strip_prefix(&*p.prefix.to_string_lossy()).unwrap_or(&rest).trim_start_matches('/');
                    (below, after.contains('/') || after.contains("**"))
                }
                None if start.is_dir() => (start, true),
                None => (start.parent().map(Path::to_path_buf).unwrap_or(start), false),
            };
            // A directory that does not exist yet: its nearest existing ancestor, recursively,
            // so its creation and what appears in it are seen.
            let (dir, recursive) = if dir.is_dir() {
                (dir, recursive)
            } else {
                (dir.ancestors().find(|a| a.is_dir()).map(Path::to_path_buf).unwrap_or_else(|| "/".into()), true)
            };
            if let Some(i) = out.iter().position(|(d, _)| *d == dir) {
                out[i].1 |= recursive;
            } else {
                out.push((dir, recursive));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn matcher(paths: &[&str], ignore: &[&str]) -> Matcher {
        let watch = Watch {
            paths: paths.iter().map(|s| s.to_string()).collect(),
            ignore: ignore.iter().map(|s| s.to_string()).collect(),
            debounce: Duration::from_millis(1),
            cascade: false,
        };
        Matcher::new(&watch, Path::new("/p/app")).unwrap()
    }

    #[test]
    fn relative_globs_are_relative_to_the_cwd_and_star_stays_in_one_directory() {
        let m = matcher(&["*.py", "src/**/*.rs"], &[]);
        assert!(m.matches(Path::new("/p/app/main.py")));
        assert!(!m.matches(Path::new("/p/app/sub/main.py")));
        assert!(!m.matches(Path::new("/p/other/main.py")));
        assert!(m.matches(Path::new("/p/app/src/lib.rs")));
        assert!(m.matches(Path::new("/p/app/src/a/b/lib.rs")));
        assert!(!m.matches(Path::new("/p/app/src/lib.py")));
    }

    #[test]
    fn literal_paths_match_everything_below_and_default_ignores_apply_below_the_glob() {
        let m = matcher(&["src", "target/out.bin"], &[]);
        assert!(m.matches(Path::new("/p/app/src/x/y.txt")));
        assert!(!m.matches(Path::new("/p/app/src/node_modules/y.js")));
        assert!(!m.matches(Path::new("/p/app/src/.git/index")));
        // Named explicitly: not ignored.
        assert!(m.matches(Path::new("/p/app/target/out.bin")));
        let all = matcher(&["**"], &[]);
        assert!(all.matches(Path::new("/p/app/a/b.c")));
        assert!(!all.matches(Path::new("/p/app/target/debug/x")));
    }

    #[test]
    fn ignore_globs_without_a_slash_match_names_at_any_depth() {
        let m = matcher(&["**/*"], &["*.log", "tmp", "/p/app/gen/**"]);
        assert!(m.matches(Path::new("/p/app/a/b.py")));
        assert!(!m.matches(Path::new("/p/app/a/b.log")));
        assert!(!m.matches(Path::new("/p/app/a/tmp/b.py")));
        assert!(!m.matches(Path::new("/p/app/gen/x.py")));
    }

    #[test]
    fn directories_watched_are_where_globs_start() {
        let m = matcher(&["*.py", "src/**/*.rs", "lib/*.c"], &[]);
        let dirs = m.dirs();
        // None of these exist: the nearest existing ancestor, recursively.
        assert!(dirs.iter().all(|(d, r)| *r && Path::new("/p/app").starts_with(d)), "{dirs:?}");
        let here = std::env::current_dir().unwrap();
        let watch = Watch {
            paths: vec!["src/*.rs".into(), "src/**/*.rs".into(), "Cargo.toml".into()],
            ignore: vec![],
            debounce: Duration::ZERO,
            cascade: false,
        };
        let m = Matcher::new(&watch, &here).unwrap();
        let dirs = m.dirs();
        assert!(dirs.contains(&(here.join("src"), true)), "{dirs:?}");
        assert!(dirs.contains(&(here.clone(), false)), "{dirs:?}");
    }
}
