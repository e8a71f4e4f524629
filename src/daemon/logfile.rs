//! Reading pane logs (`<ms>\t<raw line>` per line) from the start and then as they grow:
//! one open handle per pane, so what was read and what comes next never overlap or leave a
//! gap, following a rotation (`.log` renamed to `.log.1`) by finishing the old handle first.
//! Growth is announced by inotify ([`Watch`]), not polled.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// One logged line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Arrival time, Unix milliseconds.
    pub ts: u64,
    /// The raw bytes the pane printed (escapes and all, no newline).
    pub raw: Vec<u8>,
    /// A piece of a line too long to log whole (`<ms>+`): the next line continues it.
    pub continued: bool,
}

/// Parses one log line (without its newline).
pub fn parse(line: &[u8]) -> Line {
    match line.iter().position(|b| *b == b'\t') {
        Some(tab) => Line {
            // A `+` after the time: a piece of a line longer than the daemon keeps whole.
            ts: std::str::from_utf8(&line[..tab]).ok().and_then(|t| t.trim_end_matches('+').parse().ok()).unwrap_or(0),
            raw: line[tab + 1..].to_vec(),
            continued: line[..tab].ends_with(b"+"),
        },
        None => Line { ts: 0, raw: line.to_vec(), continued: false },
    }
}

/// The lines logged at or after `ms`, read from the end of the file (the last MiB).
pub fn recent(path: &Path, ms: u64) -> Vec<Line> {
    use std::io::{Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else { return Vec::new() };
    let len = f.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(1 << 20);
    let _ = f.seek(SeekFrom::Start(start));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    // A cut first line is dropped; a partial last line is not logged yet.
    let skip = if start > 0 { buf.iter().position(|b| *b == b'\n').map_or(buf.len(), |i| i + 1) } else { 0 };
    let end = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut lines: Vec<Line> =
        buf[skip.min(end)..end].split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(parse).collect();
    let first = lines.iter().rposition(|l| l.ts < ms).map_or(0, |i| i + 1);
    lines.split_off(first)
}

/// A pane log being read.
pub struct PaneLog {
    path: PathBuf,
    file: Option<(File, u64)>,
    partial: Vec<u8>,
    refused: Option<String>,
}

impl PaneLog {
    /// A reader of `path` (which may not exist yet).
    pub fn new(path: PathBuf) -> PaneLog {
        PaneLog { path, file: None, partial: Vec::new(), refused: None }
    }

    /// Everything logged so far, the rotated `.log.1` first; later calls to [`PaneLog::more`]
    /// continue exactly where this stopped.
    pub fn history(&mut self) -> Vec<Line> {
        let mut lines = Vec::new();
        if let Some(mut old) = self.open_beneath(&self.path.with_extension("log.1")) {
            let mut buf = Vec::new();
            let _ = old.read_to_end(&mut buf);
            lines.extend(buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(parse));
        }
        lines.extend(self.more());
        lines
    }

    /// Complete lines added since the last call (a partial last line waits for its newline).
    pub fn more(&mut self) -> Vec<Line> {
        let mut buf = std::mem::take(&mut self.partial);
        if self.file.is_none() {
            self.open();
        }
        if let Some((f, _)) = self.file.as_mut() {
            let _ = f.read_to_end(&mut buf);
        }
        // Rotated: the old handle is finished above; the new file starts from its beginning.
        let current = std::fs::metadata(&self.path).ok().map(|m| m.ino());
        if let Some((_, ino)) = &self.file
            && current.is_some_and(|c| c != *ino)
        {
            self.open();
            if let Some((f, _)) = self.file.as_mut() {
                let _ = f.read_to_end(&mut buf);
            }
        }
        let complete = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.partial = buf.split_off(complete);
        buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(parse).collect()
    }

    fn open(&mut self) {
        let path = self.path.clone();
        self.file = self.open_beneath(&path).and_then(|f| {
            let ino = f.metadata().ok()?.ino();
            Some((f, ino))
        });
    }

    /// Opens `path` as the daemon writes it: beneath the state directory, no symlink followed
    /// (a planted `logs/<server>/<project>/<session> -> /victim` is never read through). A
    /// refusal other than "not there yet" is kept for [`PaneLog::refused`].
    fn open_beneath(&mut self, path: &Path) -> Option<File> {
        match crate::fs_safe::open_read(path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                if self.refused.is_none() {
                    self.refused = Some(format!("not reading {}: {e}", path.display()));
                }
                None
            }
        }
    }

    /// Why the log could not be read, once (a link where a directory or file should be), if so.
    pub fn refused(&mut self) -> Option<String> {
        self.refused.take()
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// inotify on the directories holding some pane logs: [`Watch::wait`] returns when any of them
/// changed.
pub struct Watch {
    _watcher: notify::RecommendedWatcher,
    rx: mpsc::Receiver<()>,
}

impl Watch {
    /// Watches `dirs` (created if missing, so logs that appear later are seen).
    pub fn new<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> notify::Result<Watch> {
        use notify::Watcher;
        let (tx, rx) = mpsc::channel();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if res.is_ok() {
                let _ = tx.send(());
            }
        })?;
        for dir in dirs {
            let _ = std::fs::create_dir_all(dir);
            watcher.watch(dir, notify::RecursiveMode::NonRecursive)?;
        }
        Ok(Watch { _watcher: watcher, rx })
    }

    /// Blocks until something changed (or `timeout`); false when it timed out.
    pub fn wait(&self, timeout: Option<std::time::Duration>) -> bool {
        let got = match timeout {
            Some(t) => self.rx.recv_timeout(t).is_ok(),
            None => self.rx.recv().is_ok(),
        };
        // One read serves every change queued so far.
        while self.rx.try_recv().is_ok() {}
        got
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_history_then_growth_across_a_rotation_without_gap_or_repeat() {
        crate::fs_safe::with_state(|state| {
            std::fs::create_dir_all(state.join("logs")).unwrap();
            std::fs::set_permissions(state, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
            history_then_growth(&state.join("logs/p.log"));
        });
    }

    fn history_then_growth(path: &Path) {
        let path = path.to_path_buf();
        let mut w = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        write!(w, "1\ta\n2\tb\n3\tpart").unwrap();
        let mut log = PaneLog::new(path.clone());
        let text = |lines: Vec<Line>| lines.into_iter().map(|l| String::from_utf8(l.raw).unwrap()).collect::<Vec<_>>();
        assert_eq!(text(log.history()), ["a", "b"]);
        write!(w, "ial\n4\td\n").unwrap();
        w.flush().unwrap();
        // Rotation: the writer renames and starts a new file; the reader finishes the old one.
        std::fs::rename(&path, path.with_extension("log.1")).unwrap();
        let mut w = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        writeln!(w, "5\te").unwrap();
        assert_eq!(text(log.more()), ["partial", "d", "e"]);
        assert_eq!(text(log.more()), Vec::<String>::new());
        assert_eq!(parse(b"17\tx\ty"), Line { ts: 17, raw: b"x\ty".to_vec(), continued: false });
    }
}
