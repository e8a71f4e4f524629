//! The snapshot store: `snapshots/<project>/<ID>.yaml` under the state directory, one file per
//! snapshot, each written atomically (temporary file, fsync, rename) and owner-only.
//!
//! A snapshot file is never overwritten: every save gets a new id (its time, to the
//! millisecond), and an empty document is refused, so a failed capture can never take the
//! place of a good one (tmux-continuum can promote a 0-byte save to "last").

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// One stored snapshot.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    /// `YYYYMMDD-HHMMSS-mmm` (UTC), sortable.
    pub id: String,
    /// The project it belongs to.
    pub project: String,
    /// Where it is.
    pub path: PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// Sessions and panes, from its header.
    pub sessions: Option<u64>,
    /// Panes, from its header.
    pub panes: Option<u64>,
}

/// The store's root directory (not created).
pub fn root() -> PathBuf {
    crate::state::dir().join("snapshots")
}

/// Writes `bytes` to `path` so a reader sees the old file or the whole new one, never a part:
/// a temporary file beside it (mode 0600), fsync, rename, fsync of the directory. An empty
/// document is refused, so a failed capture never replaces a good snapshot.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(std::io::Error::other("refusing to write an empty snapshot"));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = new_private_file(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates `path` for writing, 0600, failing if it exists or is a symlink: a temporary file
/// that no one else can have planted or be writing.
fn new_private_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(path)
}

/// Stores `text` as a new snapshot of `project`; returns its entry. The file appears whole
/// under a name no other save took: it is written and synced under a temporary name, then
/// hard-linked to its final name, which fails rather than replaces when a concurrent save (in
/// the same millisecond) took that name first — then the next free name is tried.
pub fn save(project: &str, text: &str) -> std::io::Result<Entry> {
    use crate::fs_safe;
    if text.trim().is_empty() {
        return Err(std::io::Error::other("refusing to store an empty snapshot"));
    }
    // Every step beneath the state dir, no symlink followed ([`crate::fs_safe`]).
    let dir = fs_safe::create_dir_all(&root().join(crate::manifest::lower::sanitize_name(project)))?;
    let stamp = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S-%3f").to_string();
    let tmp = dir.join(format!(".{stamp}.{}.tmp", std::process::id()));
    let mut f = fs_safe::create_new(&tmp)?;
    let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_all());
    if let Err(e) = written {
        let _ = fs_safe::remove(&tmp);
        return Err(e);
    }
    let mut result = Err(std::io::Error::other("no free snapshot name"));
    for n in 1..1000 {
        let id = if n == 1 { stamp.clone() } else { format!("{stamp}-{n}") };
        let path = dir.join(format!("{id}.yaml"));
        match fs_safe::link(&tmp, &path) {
            Ok(()) => {
                result = Ok(path);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let _ = fs_safe::remove(&tmp);
    let path = result?;
    fs_safe::open_read(&dir.join(".")).or_else(|_| std::fs::File::open(&dir)).and_then(|d| d.sync_all())?;
    entry(project, &path).ok_or_else(|| std::io::Error::other("the stored snapshot cannot be read back"))
}

fn entry(project: &str, path: &Path) -> Option<Entry> {
    let id = path.file_name()?.to_str()?.strip_suffix(".yaml")?.to_string();
    if id.starts_with('.') {
        return None;
    }
    let mut file = crate::fs_safe::open_read(path).ok()?;
    let meta = file.metadata().ok().filter(|m| m.is_file())?;
    let mut head = String::new();
    std::io::Read::read_to_string(&mut file, &mut head).ok()?;
    let counts = head.lines().take(4).find_map(|l| {
        let rest = l.strip_prefix("# ")?;
        let (s, rest) = rest.split_once(" session(s), ")?;
        let (p, _) = rest.split_once(" pane(s)")?;
        Some((s.parse().ok()?, p.parse().ok()?))
    });
    Some(Entry {
        id,
        project: project.into(),
        path: path.to_path_buf(),
        bytes: meta.len(),
        sessions: counts.map(|c| c.0),
        panes: counts.map(|c| c.1),
    })
}

/// Every stored snapshot (of `project`, when given), oldest first.
pub fn list(project: Option<&str>) -> Vec<Entry> {
    let mut out = Vec::new();
    // Beneath the state dir, no symlink followed ([`crate::fs_safe`]): a planted
    // `snapshots/p -> /tmp/victim` lists nothing, so pruning never reaches there.
    let Ok(projects) = crate::fs_safe::list(&root()) else { return out };
    for p in projects.into_iter().filter(|p| p.kind == crate::fs_safe::Kind::Dir) {
        let name = p.name.clone();
        if project.is_some_and(|want| crate::manifest::lower::sanitize_name(want) != name) {
            continue;
        }
        let Ok(files) = crate::fs_safe::list(&p.path) else { continue };
        out.extend(files.iter().filter(|f| f.kind == crate::fs_safe::Kind::File).filter_map(|f| entry(&name, &f.path)));
    }
    out.sort_by(|a, b| a.id.cmp(&b.id).then(a.project.cmp(&b.project)));
    out
}

/// The snapshot with `id` (`ID` or `PROJECT/ID`).
pub fn find(id: &str) -> Result<Entry, String> {
    let (project, id) = match id.split_once('/') {
        Some((p, i)) => (Some(p), i),
        None => (None, id),
    };
    let found: Vec<Entry> = list(project).into_iter().filter(|e| e.id == id).collect();
    match found.len() {
        1 => Ok(found.into_iter().next().expect("one")),
        0 => Err(format!("no snapshot `{id}`")),
        _ => Err(format!(
            "snapshot id `{id}` is in several projects: {}",
            found.iter().map(|e| format!("{}/{}", e.project, e.id)).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Removes all but the newest `keep` snapshots of `project`; returns how many were removed.
pub fn prune(project: &str, keep: usize) -> usize {
    let all = list(Some(project));
    let extra = all.len().saturating_sub(keep);
    all.iter().take(extra).filter(|e| crate::fs_safe::remove(&e.path).is_ok()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_never_follows_a_planted_project_or_store_link() {
        crate::fs_safe::with_state(|state| {
            let victim = tempfile::tempdir().unwrap();
            std::fs::write(victim.path().join("20000101-000000-000.yaml"), "version: 1\n").unwrap();
            std::fs::create_dir_all(state.join("snapshots")).unwrap();
            std::os::unix::fs::symlink(victim.path(), state.join("snapshots/p")).unwrap();
            assert!(list(Some("p")).is_empty());
            assert_eq!(prune("p", 0), 0);
            assert!(save("p", "version: 1\n").is_err(), "saved through a link");
            std::fs::remove_file(state.join("snapshots/p")).unwrap();
            std::fs::remove_dir(state.join("snapshots")).unwrap();
            std::os::unix::fs::symlink(victim.path(), state.join("snapshots")).unwrap();
            assert!(list(None).is_empty());
            assert_eq!(prune("p", 0), 0);
            assert_eq!(std::fs::read_dir(victim.path()).unwrap().count(), 1);
            // A real store prunes.
            std::fs::remove_file(state.join("snapshots")).unwrap();
            for _ in 0..3 {
                save("q", "version: 1\n").unwrap();
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            assert_eq!(prune("q", 1), 2);
            assert_eq!(list(Some("q")).len(), 1);
        });
    }

    #[test]
    fn an_empty_document_never_replaces_a_good_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.yaml");
        write_atomically(&path, b"version: 1\n").unwrap();
        assert!(write_atomically(&path, b"").is_err());
        assert!(write_atomically(&path, b" \n").is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "version: 1\n");
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(leftovers.len(), 1, "a temporary file was left behind");
    }
}
