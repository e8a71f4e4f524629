//! Following managed panes' logs: the daemon gets their output from the files their sinks
//! ([`crate::sink`]) write, not from tmux. inotify (the `notify` crate, recursive on this
//! server's log directory) says which files grew; each pane's log is read from the byte offset
//! (and inode) processed so far, across a rotation (the old file is finished first).
//!
//! The offsets are what make a restarted daemon resume exactly where the last one stopped: they
//! are stored in the state store ([`crate::store`], a crash cannot leave it half written) —
//! past a line *before* any action that line triggers runs, lazily (every [`SAVE_EVERY`])
//! otherwise. A log with no stored offset (a pane new to every daemon) is read from the first
//! line its current process wrote (time ≥ its `@ctmux-started`).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a processed offset may stay unsaved when no action depends on it.
pub const SAVE_EVERY: Duration = Duration::from_millis(100);

/// One log line read: the raw text (no time, no newline) and the offset just past it.
pub struct Read1 {
    /// The line as the pane printed it (a trailing CR dropped).
    pub raw: Vec<u8>,
    /// Where the next line starts, in the file `inode`.
    pub end: u64,
    /// The file the line is in.
    pub inode: u64,
}

/// A pane's log being followed.
struct Tail {
    path: PathBuf,
    file: Option<File>,
    inode: u64,
    /// Bytes of the file processed (complete lines).
    offset: u64,
    /// Read past `offset`, not yet a complete line.
    partial: Vec<u8>,
    /// Not yet saved.
    dirty: bool,
}

impl Tail {
    /// Opens `path` (or its rotated `.log.1` when that is the file `inode`) at `offset`.
    fn resume(path: PathBuf, saved: Option<(u64, u64)>, from_ms: Option<u64>) -> Tail {
        let mut tail = Tail { path, file: None, inode: 0, offset: 0, partial: Vec::new(), dirty: false };
        if let Some((inode, offset)) = saved {
            for candidate in [tail.path.clone(), rotated(&tail.path)] {
                if let Ok(mut f) = File::open(&candidate)
                    && f.metadata().is_ok_and(|m| m.ino() == inode)
                    && f.seek(SeekFrom::Start(offset)).is_ok()
                {
                    tail.file = Some(f);
                    tail.inode = inode;
                    tail.offset = offset;
                    return tail;
                }
            }
        }
        // Nothing saved (or a file we do not know): from the current process's first line.
        if let Ok(mut f) = File::open(&tail.path) {
            let inode = f.metadata().map_or(0, |m| m.ino());
            let offset = match from_ms {
                Some(ms) => first_at(&mut f, ms),
                None => f.metadata().map_or(0, |m| m.len()),
            };
            if f.seek(SeekFrom::Start(offset)).is_ok() {
                tail.file = Some(f);
                tail.inode = inode;
                tail.offset = offset;
                tail.dirty = true;
            }
        }
        tail
    }

    /// Complete lines added since the last call.
    fn more(&mut self, out: &mut Vec<Read1>) {
        if self.file.is_none() {
            // Not created yet when we started following: from its start.
            if let Ok(f) = File::open(&self.path) {
                self.inode = f.metadata().map_or(0, |m| m.ino());
                self.file = Some(f);
                self.offset = 0;
                self.partial.clear();
            }
        }
        self.drain(out);
        // Rotated: the old file is finished above; the new one is read from its start.
        let current = std::fs::metadata(&self.path).ok().map(|m| m.ino());
        if self.file.is_some()
            && current.is_some_and(|c| c != self.inode)
            && let Ok(f) = File::open(&self.path)
        {
            self.inode = f.metadata().map_or(0, |m| m.ino());
            self.file = Some(f);
            self.offset = 0;
            self.partial.clear();
            self.dirty = true;
            self.drain(out);
        }
    }

    fn drain(&mut self, out: &mut Vec<Read1>) {
        let Some(f) = self.file.as_mut() else { return };
        let mut buf = std::mem::take(&mut self.partial);
        let start = buf.len();
        let _ = f.read_to_end(&mut buf);
        if buf.len() == start {
            self.partial = buf;
            return;
        }
        let mut at = 0;
        while let Some(nl) = buf[at..].iter().position(|b| *b == b'\n') {
            let line = &buf[at..at + nl];
            self.offset += nl as u64 + 1;
            at += nl + 1;
            // `<ms>[+]\t<raw>`: the raw text is what rules and events see.
            let mut raw = line.iter().position(|b| *b == b'\t').map_or(line, |t| &line[t + 1..]).to_vec();
            if raw.last() == Some(&b'\r') {
                raw.pop();
            }
            out.push(Read1 { raw, end: self.offset, inode: self.inode });
        }
        self.partial = buf.split_off(at);
    }
}

/// `path` rotated (`p.log` → `p.log.1`).
fn rotated(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".1");
    PathBuf::from(s)
}

/// The offset of the first line logged at or after `ms`.
fn first_at(f: &mut File, ms: u64) -> u64 {
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let mut offset = 0;
    for line in buf.split_inclusive(|b| *b == b'\n') {
        if !line.ends_with(b"\n") {
            break;
        }
        let ts = line.iter().position(|b| *b == b'\t').and_then(|t| {
            std::str::from_utf8(&line[..t]).ok().and_then(|t| t.trim_end_matches('+').parse::<u64>().ok())
        });
        if ts.is_some_and(|t| t >= ms) {
            break;
        }
        offset += line.len() as u64;
    }
    offset
}

/// Every followed pane, and the inotify watch on their directory.
pub struct Follow {
    /// By pane id.
    tails: HashMap<String, Tail>,
    /// Log path → pane id.
    by_path: HashMap<PathBuf, String>,
    /// Paths inotify reported since the last look.
    changed: Arc<Mutex<HashSet<PathBuf>>>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Follow {
    /// Watches `dir` (this server's logs, created if missing); `wake` is called when a look is
    /// due (once per batch of changes).
    pub fn new(dir: &Path, wake: impl Fn() + Send + 'static) -> Follow {
        use notify::Watcher;
        let changed: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
        let seen = changed.clone();
        let watcher = {
            use std::os::unix::fs::DirBuilderExt;
            let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir);
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                let Ok(event) = res else { return };
                let mut set = seen.lock().unwrap_or_else(|e| e.into_inner());
                let first = set.is_empty();
                set.extend(event.paths);
                if first {
                    drop(set);
                    wake();
                }
            })
            .and_then(|mut w| w.watch(dir, notify::RecursiveMode::Recursive).map(|_| w))
        };
        if let Err(e) = &watcher {
            eprintln!("ctmux daemon: cannot watch {}: {e}", dir.display());
        }
        Follow { tails: HashMap::new(), by_path: HashMap::new(), changed, _watcher: watcher.ok() }
    }

    /// Follows pane `id`'s log at `path`, from `saved` (inode, offset) or else from its
    /// process's start (`from_ms`). A pane followed already is left as it is.
    pub fn add(&mut self, id: &str, path: PathBuf, saved: Option<(u64, u64)>, from_ms: Option<u64>) {
        if self.tails.get(id).is_some_and(|t| t.path == path) {
            return;
        }
        self.by_path.insert(path.clone(), id.to_string());
        self.tails.insert(id.to_string(), Tail::resume(path, saved, from_ms));
    }

    /// Whether pane `id` is followed.
    pub fn has(&self, id: &str) -> bool {
        self.tails.contains_key(id)
    }

    /// Stops following pane `id`; returns its last position (path, inode, offset) to save.
    pub fn remove(&mut self, id: &str) -> Option<(PathBuf, u64, u64)> {
        let tail = self.tails.remove(id)?;
        self.by_path.remove(&tail.path);
        Some((tail.path, tail.inode, tail.offset))
    }

    /// The panes whose logs changed since the last call (every pane when `all`).
    pub fn changed(&mut self, all: bool) -> Vec<String> {
        let paths = std::mem::take(&mut *self.changed.lock().unwrap_or_else(|e| e.into_inner()));
        if all {
            return self.tails.keys().cloned().collect();
        }
        let mut ids: Vec<String> = Vec::new();
        for p in paths {
            // `p.log.1` (a rotation) belongs to `p.log`.
            let key = if p.extension().is_some_and(|e| e == "1") { p.with_extension("") } else { p };
            if let Some(id) = self.by_path.get(&key)
                && !ids.contains(id)
            {
                ids.push(id.clone());
            }
        }
        ids
    }

    /// Complete lines pane `id`'s log gained.
    pub fn read(&mut self, id: &str) -> Vec<Read1> {
        let mut out = Vec::new();
        if let Some(tail) = self.tails.get_mut(id) {
            tail.more(&mut out);
        }
        out
    }

    /// Records that pane `id` processed its log up to `line` (saved later unless `save` now).
    pub fn processed(&mut self, id: &str, inode: u64, end: u64) -> Option<(PathBuf, u64, u64)> {
        let tail = self.tails.get_mut(id)?;
        tail.dirty = true;
        Some((tail.path.clone(), inode, end))
    }

    /// The positions not saved yet (clearing the marks).
    pub fn unsaved(&mut self) -> Vec<(PathBuf, u64, u64)> {
        self.tails
            .values_mut()
            .filter_map(|t| std::mem::take(&mut t.dirty).then_some(&*t))
            .map(|t| (t.path.clone(), t.inode, t.offset))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn resumes_at_a_saved_offset_across_a_rotation_and_from_a_start_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.log");
        let mut w = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        write!(w, "10\told\n20\tnew\n20+\tpie\n30\tpart").unwrap();
        let mut t = Tail::resume(path.clone(), None, Some(20));
        let mut out = Vec::new();
        t.more(&mut out);
        let text = |o: &[Read1]| o.iter().map(|l| String::from_utf8_lossy(&l.raw).into_owned()).collect::<Vec<_>>();
        assert_eq!(text(&out), ["new", "pie"]);
        let (inode, end) = (out[0].inode, out[0].end);
        write!(w, "ial\r\n").unwrap();
        // A daemon that stopped after "new": resumes with "pie", across a rotation.
        std::fs::rename(&path, rotated(&path)).unwrap();
        let mut w = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        writeln!(w, "40\tafter").unwrap();
        let mut t = Tail::resume(path.clone(), Some((inode, end)), None);
        let mut out = Vec::new();
        t.more(&mut out);
        assert_eq!(text(&out), ["pie", "partial", "after"]);
        let mut out = Vec::new();
        t.more(&mut out);
        assert!(out.is_empty());
    }
}
