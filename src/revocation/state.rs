//! The revocation state file: read (strictly) at configuration time by the master, written by
//! the worker that serves a change, atomically: a temporary file in the same directory,
//! flushed to disk, then renamed over the old one, under an exclusive lock on the directory so
//! that two workers' writes cannot land out of order.

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use jwt_peer_auth_core::revocation::{self, Entry};

/// Reads the state file at `path`: no file is an empty list (the first start); a file that
/// cannot be read or is damaged is an error naming what is wrong.
pub fn load(path: &str, now: i64) -> Result<Vec<Entry>, String> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(format!(
                "cannot read \"{path}\": {}",
                crate::glue::io_error_text(&e)
            ))
        }
    };
    revocation::parse_state(&text, now).map_err(|why| format!("damaged state file \"{path}\": {why}"))
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
            // Readable by the master (loaded at start) and the operator's group.
            let mut f = std::fs::OpenOptions::new()
                .mode(0o640)
                .write(true)
                .create(true)
                .truncate(true)
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
