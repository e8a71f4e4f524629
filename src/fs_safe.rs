//! Files under ctmux's own directories (the state directory, the runtime directory), reached
//! without ever leaving them.
//!
//! Every path is split into a root (the state or runtime directory, which must be a directory
//! owned by this user and not group or world writable) and a relative rest. The rest is walked
//! from the root's file descriptor with no symlink followed and no `..`: `openat2(2)` with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` where the kernel has it, else one `openat(2)` per
//! component with `O_NOFOLLOW | O_DIRECTORY`. The last component is then opened, listed,
//! or removed relative to its parent's descriptor (`openat`/`fstatat`/`unlinkat` with no
//! symlink followed), so a planted `logs/p/t -> /tmp/victim` (a directory link) or
//! `x.log -> /etc/passwd` (a file link) makes the call fail instead of reaching outside. A
//! symlink found in a listing is reported as such and never followed.
//!
//! The API: [`open_append`], [`open_lock`], [`create_new`], [`open_read`], [`create_dir_all`],
//! [`list`], [`remove`], [`remove_dir`], [`link`], [`rename`] — each takes an absolute path under one of the roots.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The directories ctmux owns, each a possible root of a path.
fn roots() -> Vec<PathBuf> {
    let mut roots = vec![std::path::absolute(crate::state::dir()).unwrap_or_else(|_| crate::state::dir())];
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        roots.push(PathBuf::from(d).join("ctmux"));
    }
    // SAFETY: getuid(2) cannot fail and touches no memory.
    roots.push(PathBuf::from(format!("/tmp/ctmux-{}", unsafe { libc::getuid() })));
    roots
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| invalid("a path with a NUL byte".into()))
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
}

/// `path` split into its root (opened, checked) and the components below it.
fn split(path: &Path) -> io::Result<(OwnedFd, Vec<CString>)> {
    let path = std::path::absolute(path)?;
    let root = roots()
        .into_iter()
        .filter(|r| path.starts_with(r))
        .max_by_key(|r| r.as_os_str().len())
        .ok_or_else(|| invalid(format!("{} is not under ctmux's state or runtime directory", path.display())))?;
    let mut parts = Vec::new();
    for c in path.strip_prefix(&root).unwrap_or(Path::new("")).components() {
        match c {
            Component::Normal(n) => parts.push(cstr(n)?),
            Component::CurDir => {}
            _ => return Err(invalid(format!("{} leaves its directory (`..`)", path.display()))),
        }
    }
    Ok((open_root(&root)?, parts))
}

/// Opens a root directory (created 0700 if missing) and checks it is this user's and private.
fn open_root(root: &Path) -> io::Result<OwnedFd> {
    use std::os::unix::fs::DirBuilderExt;
    if !root.exists() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(root)?;
    }
    let c = cstr(root.as_os_str())?;
    // SAFETY: `c` is a valid NUL-terminated string; the fd is owned by the OwnedFd below.
    let fd = unsafe { OwnedFd::from_raw_fd(cvt(libc::open(c.as_ptr(), libc::O_DIRECTORY | libc::O_CLOEXEC))?) };
    let meta = File::from(fd.try_clone()?).metadata()?;
    check_private(root, &meta)?;
    Ok(fd)
}

/// Refuses a directory owned by someone else or writable by group or others: whoever can
/// write there can plant links and files ctmux would act on.
pub fn check_private(dir: &Path, meta: &std::fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: getuid(2) cannot fail and touches no memory.
    let uid = unsafe { libc::getuid() };
    let refuse = |why: String| {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("refusing the directory {}: {why}", dir.display())))
    };
    if meta.uid() != uid {
        return refuse(format!("it is owned by uid {}, not by you ({uid})", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return refuse(format!("it is group or world writable (mode {:o}); chmod 700 it", meta.mode() & 0o777));
    }
    Ok(())
}

/// Opens directory `parts` beneath `root`, following no symlink.
fn open_dir(root: &OwnedFd, parts: &[CString], create: bool) -> io::Result<OwnedFd> {
    if parts.is_empty() {
        return root.try_clone();
    }
    if !create {
        let joined = parts.iter().map(|p| p.to_bytes()).collect::<Vec<_>>().join(&b'/');
        match openat2_beneath(root, &CString::new(joined).map_err(|_| invalid("NUL".into()))?) {
            Ok(fd) => return Ok(fd),
            // No openat2 (old kernel, seccomp): walk.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {}
            Err(e) => return Err(e),
        }
    }
    let mut dir = root.try_clone()?;
    for part in parts {
        if create {
            // SAFETY: valid fd and NUL-terminated name.
            let r = unsafe { libc::mkdirat(dir.as_raw_fd(), part.as_ptr(), 0o700) };
            if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: valid fd and NUL-terminated name; the new fd is owned below.
        let fd = cvt(unsafe {
            libc::openat(dir.as_raw_fd(), part.as_ptr(), libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        })
        .map_err(|e| symlink_hint(e, part))?;
        // SAFETY: fd is fresh and ours.
        dir = unsafe { OwnedFd::from_raw_fd(fd) };
    }
    Ok(dir)
}

fn symlink_hint(e: io::Error, part: &CString) -> io::Error {
    match e.raw_os_error() {
        Some(libc::ELOOP | libc::ENOTDIR) => io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "`{}` is a symlink or not a directory; ctmux does not follow links in its directories",
                part.to_string_lossy()
            ),
        ),
        _ => e,
    }
}

fn openat2_beneath(root: &OwnedFd, path: &CString) -> io::Result<OwnedFd> {
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS;
    // SAFETY: valid fd, NUL-terminated path, a pointer to `how` and its size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ELOOP | libc::EXDEV | libc::ENOTDIR) => io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} has a symlink in it; ctmux does not follow links in its directories",
                    path.to_string_lossy()
                ),
            ),
            _ => e,
        });
    }
    // SAFETY: r is a fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(r as libc::c_int) })
}

/// The parent directory of `path` (opened beneath its root, created when `create`) and the
/// last component's name.
fn parent(path: &Path, create: bool) -> io::Result<(OwnedFd, CString)> {
    let (root, mut parts) = split(path)?;
    let name = parts.pop().ok_or_else(|| invalid(format!("{} names a root directory", path.display())))?;
    Ok((open_dir(&root, &parts, create)?, name))
}

fn open_at(path: &Path, flags: libc::c_int, create_dirs: bool) -> io::Result<File> {
    let (dir, name) = parent(path, create_dirs)?;
    // SAFETY: valid fd and NUL-terminated name; the fd is owned by the File.
    let fd = cvt(unsafe {
        libc::openat(dir.as_raw_fd(), name.as_ptr(), flags | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0o600 as libc::c_uint)
    })
    .map_err(|e| symlink_hint(e, &name))?;
    // SAFETY: fd is fresh and ours.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Opens `path` for appending, creating it (0600) and its directories (0700).
pub fn open_append(path: &Path) -> io::Result<File> {
    open_at(path, libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT, true)
}

/// Opens `path` for reading and writing, creating it (0600) and its directories (0700),
/// without truncating: a lock file.
pub fn open_lock(path: &Path) -> io::Result<File> {
    open_at(path, libc::O_RDWR | libc::O_CREAT, true)
}

/// Creates `path` (0600), failing if anything is there: a temporary file.
pub fn create_new(path: &Path) -> io::Result<File> {
    open_at(path, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, true)
}

/// Opens an existing `path` for reading.
pub fn open_read(path: &Path) -> io::Result<File> {
    open_at(path, libc::O_RDONLY, false)
}

/// Creates directory `path` and its parents (0700) beneath the root; returns `path`.
pub fn create_dir_all(path: &Path) -> io::Result<PathBuf> {
    let (root, parts) = split(path)?;
    let dir = open_dir(&root, &parts, true)?;
    // One made by an older ctmux (or a umask) with a looser mode is tightened.
    let meta = File::from(dir.try_clone()?).metadata()?;
    if std::os::unix::fs::MetadataExt::mode(&meta) & 0o077 != 0 {
        // SAFETY: valid fd.
        cvt(unsafe { libc::fchmod(dir.as_raw_fd(), 0o700) })?;
    }
    Ok(path.to_path_buf())
}

/// What a directory entry is, as `lstat` says (a symlink is never followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symlink (not followed).
    Symlink,
    /// Anything else (FIFO, socket, device).
    Other,
}

/// One entry of [`list`].
#[derive(Debug, Clone)]
pub struct Entry {
    /// Full path.
    pub path: PathBuf,
    /// File name.
    pub name: String,
    /// What it is.
    pub kind: Kind,
    /// Size in bytes.
    pub len: u64,
    /// Last modification.
    pub modified: std::time::SystemTime,
}

/// The entries of directory `path` (not `.`/`..`); a missing directory has none.
pub fn list(path: &Path) -> io::Result<Vec<Entry>> {
    let (root, parts) = split(path)?;
    let dir = match open_dir(&root, &parts, false) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    // SAFETY: fdopendir takes ownership of a dup of the fd, closed by closedir.
    let dup = cvt(unsafe { libc::dup(dir.as_raw_fd()) })?;
    let dirp = unsafe { libc::fdopendir(dup) };
    if dirp.is_null() {
        // SAFETY: dup is ours.
        unsafe { libc::close(dup) };
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    loop {
        // SAFETY: dirp is a valid DIR*.
        let ent = unsafe { libc::readdir(dirp) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is NUL-terminated within the dirent.
        let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) }.to_owned();
        if name.as_bytes() == b"." || name.as_bytes() == b".." {
            continue;
        }
        // SAFETY: stat is plain data; fstatat fills it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } < 0 {
            continue;
        }
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => Kind::File,
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFLNK => Kind::Symlink,
            _ => Kind::Other,
        };
        let modified = std::time::UNIX_EPOCH
            + std::time::Duration::new(st.st_mtime.max(0) as u64, st.st_mtime_nsec.clamp(0, 999_999_999) as u32);
        let os = OsStr::from_bytes(name.as_bytes());
        out.push(Entry {
            path: path.join(os),
            name: os.to_string_lossy().into_owned(),
            kind,
            len: st.st_size.max(0) as u64,
            modified,
        });
    }
    // SAFETY: dirp is valid and closed once.
    unsafe { libc::closedir(dirp) };
    Ok(out)
}

/// Removes the file `path` (a symlink there is removed itself, never its target); an empty
/// directory with `dir`.
pub fn remove(path: &Path) -> io::Result<()> {
    let (dir, name) = parent(path, false)?;
    // SAFETY: valid fd and NUL-terminated name.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) })?;
    Ok(())
}

/// Removes the empty directory `path`.
pub fn remove_dir(path: &Path) -> io::Result<()> {
    let (dir, name) = parent(path, false)?;
    // SAFETY: valid fd and NUL-terminated name.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) })?;
    Ok(())
}

/// Hard-links `from` to the new name `to` (fails if `to` exists), both beneath ctmux's
/// directories.
pub fn link(from: &Path, to: &Path) -> io::Result<()> {
    let (a, an) = parent(from, false)?;
    let (b, bn) = parent(to, true)?;
    // SAFETY: valid fds and NUL-terminated names; flags 0 follows no symlink.
    cvt(unsafe { libc::linkat(a.as_raw_fd(), an.as_ptr(), b.as_raw_fd(), bn.as_ptr(), 0) })?;
    Ok(())
}

/// Renames `from` to `to` (atomically replacing it), both beneath ctmux's directories.
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    let (a, an) = parent(from, false)?;
    let (b, bn) = parent(to, true)?;
    // SAFETY: valid fds and NUL-terminated names.
    cvt(unsafe { libc::renameat(a.as_raw_fd(), an.as_ptr(), b.as_raw_fd(), bn.as_ptr()) })?;
    Ok(())
}

/// Runs `f` with `CTMUX_STATE_DIR` set to a fresh private directory (tests that use the
/// variable share it, so they take a lock).
#[cfg(test)]
pub(crate) fn with_state(f: impl FnOnce(&Path)) {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // SAFETY: serialized by LOCK; no other thread of these tests reads the variable.
    unsafe { std::env::set_var("CTMUX_STATE_DIR", &state) };
    f(&state);
    unsafe { std::env::remove_var("CTMUX_STATE_DIR") };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn directory_and_file_symlinks_are_never_followed() {
        with_state(|state| {
            let victim = tempfile::tempdir().unwrap();
            std::fs::write(victim.path().join("a.log"), "keep").unwrap();
            create_dir_all(&state.join("logs/p")).unwrap();
            std::os::unix::fs::symlink(victim.path(), state.join("logs/p/t")).unwrap();
            std::os::unix::fs::symlink(victim.path().join("a.log"), state.join("logs/p/f.log")).unwrap();
            assert!(open_append(&state.join("logs/p/t/x.log")).is_err());
            assert!(open_append(&state.join("logs/p/f.log")).is_err());
            assert!(remove(&state.join("logs/p/t/a.log")).is_err());
            assert!(list(&state.join("logs/p/t")).is_err());
            assert!(create_dir_all(&state.join("logs/p/t/deeper")).is_err());
            let seen = list(&state.join("logs/p")).unwrap();
            assert!(seen.iter().all(|e| e.kind == Kind::Symlink), "{seen:?}");
            // Removing the link removes the link only.
            remove(&state.join("logs/p/f.log")).unwrap();
            assert_eq!(std::fs::read_to_string(victim.path().join("a.log")).unwrap(), "keep");
            assert_eq!(std::fs::read_dir(victim.path()).unwrap().count(), 1);
            assert!(open_append(&state.join("../outside.log")).is_err());
            assert!(open_append(Path::new("/tmp/not-ours.log")).is_err());
        });
    }

    #[test]
    fn files_are_created_private_and_appended() {
        use std::os::unix::fs::PermissionsExt;
        with_state(|state| {
            let p = state.join("logs/s/p/x.log");
            open_append(&p).unwrap().write_all(b"a").unwrap();
            open_append(&p).unwrap().write_all(b"b").unwrap();
            assert_eq!(std::fs::read_to_string(&p).unwrap(), "ab");
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(std::fs::metadata(state.join("logs/s")).unwrap().permissions().mode() & 0o777, 0o700);
            let names: Vec<String> = list(&state.join("logs/s/p")).unwrap().into_iter().map(|e| e.name).collect();
            assert_eq!(names, ["x.log"]);
            assert!(create_new(&p).is_err());
            rename(&p, &state.join("logs/s/p/y.log")).unwrap();
            remove(&state.join("logs/s/p/y.log")).unwrap();
            assert!(list(&state.join("logs/s/p")).unwrap().is_empty());
        });
    }

    #[test]
    fn a_shared_state_dir_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        with_state(|state| {
            std::fs::create_dir_all(state).unwrap();
            std::fs::set_permissions(state, std::fs::Permissions::from_mode(0o777)).unwrap();
            let e = open_append(&state.join("x.log")).unwrap_err();
            assert!(e.to_string().contains("world writable"), "{e}");
            std::fs::set_permissions(state, std::fs::Permissions::from_mode(0o700)).unwrap();
            assert!(open_append(&state.join("x.log")).is_ok());
        });
    }
}
