//! The revocation state file: read (strictly) at configuration time by the master, written by
//! the worker that serves a change, atomically: a temporary file in the same directory,
//! flushed to disk, then renamed over the old one, under an exclusive lock on the directory so
//! that two workers' writes cannot land out of order.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use jwt_peer_auth_core::revocation::{self, Entry};

/// Reads the state file at `path`: no file is an empty list (the first start); a file that
/// cannot be read or is damaged is an error naming what is wrong. The directory is writable by
/// the workers and this runs as root in the master: a symbolic link, a FIFO or a device is
/// refused (never followed, never blocked on), and at most [`revocation::MAX_STATE`] bytes are
/// read.
pub fn load(path: &str, now: i64) -> Result<Vec<Entry>, String> {
    let cannot = |e: std::io::Error| format!("cannot read \"{path}\": {}", crate::glue::io_error_text(&e));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_flags::O_NOFOLLOW | libc_flags::O_NONBLOCK)
        .open(path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.raw_os_error() == Some(libc_flags::ELOOP) => {
            return Err(format!("state file \"{path}\" is a symbolic link"))
        }
        Err(e) => return Err(cannot(e)),
    };
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!("state file \"{path}\" is not a regular file"));
    }
    if meta.len() > revocation::MAX_STATE as u64 {
        return Err(format!(
            "damaged state file \"{path}\": larger than {} bytes",
            revocation::MAX_STATE
        ));
    }
    let mut text = Vec::new();
    file.take(revocation::MAX_STATE as u64 + 1)
        .read_to_end(&mut text)
        .map_err(cannot)?;
    revocation::parse_state(&text, now).map_err(|why| format!("damaged state file \"{path}\": {why}"))
}

/// Checks, at configuration time, that the state file's directory exists: a missing one would
/// only show at the first change (500), likely during an incident.
pub fn check_dir(path: &str) -> Result<(), String> {
    let dir = dir_of(path);
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "\"{}\" (the state file's directory) is not a directory",
            dir.display()
        )),
        Err(e) => Err(format!(
            "the state file's directory \"{}\": {}",
            dir.display(),
            crate::glue::io_error_text(&e)
        )),
    }
}

/// The open(2) flags and errno values used here (Linux and the BSDs share them where it
/// matters; NGINX's own headers define them for the build target).
mod libc_flags {
    pub const O_NOFOLLOW: i32 = ngx::ffi::O_NOFOLLOW as i32;
    pub const O_NONBLOCK: i32 = ngx::ffi::O_NONBLOCK as i32;
    pub const ELOOP: i32 = ngx::ffi::ELOOP as i32;
}

/// Holds the directory lock while a change is applied and written.
pub struct Writer {
    _dir: File,
}

impl Writer {
    /// Takes the exclusive lock on the state file's directory (waits for another worker's
    /// write, which takes milliseconds).
    pub fn lock(path: &str) -> std::io::Result<Writer> {
        let dir = File::open(dir_of(path))?;
        dir.lock()?;
        Ok(Writer { _dir: dir })
    }

    /// Writes `entries` to `path` atomically.
    pub fn write(&self, path: &str, entries: &[Entry]) -> std::io::Result<()> {
        let text = revocation::render_state(entries);
        let tmp = format!("{path}.{}.tmp", std::process::id());
        let result = (|| {
            // A leftover of a worker that died mid-write with this pid (the name, never what a
            // link points to).
            match std::fs::remove_file(&tmp) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            // A new file, never through a link; readable by the master (loaded at start) and
            // the workers' group.
            let mut f = std::fs::OpenOptions::new()
                .mode(0o640)
                .write(true)
                .create_new(true)
                .custom_flags(libc_flags::O_NOFOLLOW)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_ok() {
            // The rename reaches the disk with the directory; the file is in place either way.
            let _ = File::open(dir_of(path)).and_then(|d| d.sync_all());
        }
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

fn dir_of(path: &str) -> &Path {
    match Path::new(path).parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
