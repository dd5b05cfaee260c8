//! The revocation state file, a journal (see the core's `journal`): read at configuration time
//! by the master, appended to by the worker that serves a change (one line), followed by every
//! worker ([`super::journal`]), compacted now and then into a new file renamed over it.

use std::fs::File;
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::{FileExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use jwt_peer_auth_core::journal::{self, Record};
use jwt_peer_auth_core::revocation::{self, Entry};

use super::list::Mark;

/// What the master read from the state file at configuration time.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The entries listed (not expired).
    pub entries: Vec<Entry>,
    /// Where a new zone starts following the journal.
    pub mark: Mark,
    /// Damaged lines of a journal (offset, why): reported, skipped.
    pub damage: Vec<(u64, String)>,
    /// The file is a version 1 state file (to be compacted into a journal).
    pub v1: bool,
}

/// Reads the state file at `path`: no file is an empty list (the first start). A version 1
/// file (earlier versions) is read strictly, any damage an error; a journal's damaged lines
/// are skipped and returned for the log. The directory is writable by the workers and this
/// runs as root in the master: a symbolic link, a FIFO or a device is refused (never followed,
/// never blocked on), and at most [`revocation::MAX_STATE`] bytes are read.
pub fn load(path: &str, now: i64) -> Result<Loaded, String> {
    let (text, mark) = match read_file(path, 0, revocation::MAX_STATE as u64)? {
        Some(r) => r,
        None => return Ok(Loaded::default()),
    };
    let (fold, consumed, damage) =
        journal::read_all(&text, now).map_err(|why| format!("damaged state file \"{path}\": {why}"))?;
    Ok(Loaded {
        entries: fold.entries(now),
        mark: Mark {
            applied: consumed as u64,
            ..mark
        },
        damage,
        v1: journal::is_v1(&text),
    })
}

/// Reads `path` from `from` to its end, at most `max` bytes (and the whole file at most
/// [`revocation::MAX_STATE`] bytes):
/// `None` if there is no file. The mark is the file's identity with `applied` its size.
pub fn read_file(path: &str, from: u64, max: u64) -> Result<Option<(Vec<u8>, Mark)>, String> {
    let cannot = |e: std::io::Error| format!("cannot read \"{path}\": {}", crate::glue::io_error_text(&e));
    let file = match open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
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
    let mut file = file;
    file.seek(std::io::SeekFrom::Start(from)).map_err(cannot)?;
    file.take(max.min(revocation::MAX_STATE as u64 + 1 - from.min(revocation::MAX_STATE as u64)))
        .read_to_end(&mut text)
        .map_err(cannot)?;
    let mark = Mark {
        dev: meta.dev(),
        ino: meta.ino(),
        applied: meta.len(),
    };
    Ok(Some((text, mark)))
}

fn open_read(path: &str) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_flags::O_NOFOLLOW | libc_flags::O_NONBLOCK)
        .open(path)
}

/// The identity and size of the file at `path` (not followed if a link), `None` if absent.
pub fn stat(path: &str) -> std::io::Result<Option<Mark>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(Mark {
            dev: m.dev(),
            ino: m.ino(),
            applied: m.len(),
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
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

/// What ends a last line left without its newline before the next record: a torn append
/// (its POST or DELETE answered 500), which must not become a record; after a JSON object these
/// bytes make the line damaged (reported, skipped).
const TORN: &str = " (torn by a failed write)\n";

/// Appends one record to the journal at `path`: one write of one line, flushed to disk.
/// Appends of several workers (of several generations) never wait for each other (a shared
/// lock on the directory: it only waits for the last step of a compaction, which renames a
/// new file over the journal, a few milliseconds). A file without a journal header is refused
/// (another file in its place: nothing is written into it); a version 1 file is compacted into
/// a journal first (once). A last line left without its newline (an append torn by a full
/// disk, answered 500) is ended first as a damaged line ([`TORN`]), so that this record is a
/// line of its own and the torn one never counts.
pub fn append(path: &str, record: &Record, now: i64) -> std::io::Result<()> {
    match append_once(path, record) {
        Err(e) if e.kind() == std::io::ErrorKind::Other && e.to_string() == V1 => {
            compact(path, now)?;
            append_once(path, record)
        }
        r => r,
    }
}

const V1: &str = "version 1";

fn append_once(path: &str, record: &Record) -> std::io::Result<()> {
    let dir = File::open(dir_of(path))?;
    dir.lock_shared()?;
    let mut f = std::fs::OpenOptions::new()
        .mode(0o640)
        .read(true)
        .append(true)
        .create(true)
        .custom_flags(libc_flags::O_NOFOLLOW | libc_flags::O_NONBLOCK)
        .open(path)?;
    // One appender at a time from the look at the last byte to the end of the write: another
    // worker's append that spans pages can show its new length before its last byte, which
    // would be taken for a torn record (a `TORN` line after a whole one). Readers never lock.
    f.lock()?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    let mut line = String::new();
    if meta.len() == 0 {
        line.push_str(journal::HEADER);
    } else {
        let mut head = [0u8; 64];
        let n = f.read_at(&mut head, 0)?;
        if journal::is_v1(&head[..n]) {
            return Err(std::io::Error::other(V1));
        }
        if !journal::has_header(&head[..n.min(journal::HEADER.len())]) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not a revocation journal (another file in its place?)",
            ));
        }
        let mut last = [0u8; 1];
        if (meta.len() as usize) < journal::HEADER.len() {
            // A header torn by a full disk (`has_header` took it as a prefix): completed.
            line.push_str(&journal::HEADER[meta.len() as usize..]);
        } else if f.read_at(&mut last, meta.len() - 1)? == 1 && last[0] != b'\n' {
            // A record torn by a full disk (its append answered 500): ended so that it can
            // never read as a record, even one lacking only its newline.
            line.push_str(TORN);
        }
    }
    line.push_str(&record.render());
    f.write_all(line.as_bytes())?;
    f.sync_data()
}

/// Whether a compaction thread runs in this process.
static COMPACTING: AtomicBool = AtomicBool::new(false);

/// Starts [`compact`] in a thread of its own (file work only, no NGINX call), unless one runs.
pub fn compact_in_background(path: &str, now: i64) {
    if COMPACTING.swap(true, Ordering::AcqRel) {
        return;
    }
    let path = path.to_owned();
    let spawned = std::thread::Builder::new()
        .name("jwt-rev-compact".into())
        .spawn(move || {
            // A panic ends only this thread (panic = "unwind"), but it must not leave the flag
            // set: no compaction would run in this worker again and the journal would grow.
            let _ = std::panic::catch_unwind(|| compact(&path, now));
            COMPACTING.store(false, Ordering::Release);
        });
    if spawned.is_err() {
        COMPACTING.store(false, Ordering::Release);
    }
}

/// Rewrites the journal folded (an `add` per listed entry, recent removals): into a new file
/// (`path.compact`, locked so that one compaction runs at a time), flushed, then, under the
/// exclusive directory lock, the records appended meanwhile are copied after it and it is
/// renamed over the journal. The file is never partial; no record is lost (appends wait for
/// the rename, a few milliseconds).
pub fn compact(path: &str, now: i64) -> std::io::Result<()> {
    let bad = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    let tmp_path = format!("{path}.compact");
    let mut tmp = std::fs::OpenOptions::new()
        .mode(0o640)
        .read(true)
        .write(true)
        .create(true)
        .custom_flags(libc_flags::O_NOFOLLOW | libc_flags::O_NONBLOCK)
        .open(&tmp_path)?;
    if tmp.try_lock().is_err() {
        return Ok(());
    }
    tmp.set_len(0)?;
    let (text, mark) = read_file(path, 0, revocation::MAX_STATE as u64)
        .map_err(bad)?
        .ok_or_else(|| bad("no file".into()))?;
    // The new file keeps the owner and mode of the old one (the master turning a version 1
    // file into a journal as root leaves a file the workers can still append to).
    if let Ok(m) = std::fs::symlink_metadata(path) {
        let _ = std::os::unix::fs::fchown(&tmp, Some(m.uid()), Some(m.gid()));
        let _ = tmp.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(m.mode() & 0o666));
    }
    let (fold, consumed, _) = journal::read_all(&text, now).map_err(bad)?;
    tmp.write_all(journal::compact(&fold, now).as_bytes())?;
    tmp.sync_data()?;
    let dir = File::open(dir_of(path))?;
    dir.lock()?;
    let (tail, now_mark) = read_file(path, consumed as u64, revocation::MAX_STATE as u64)
        .map_err(bad)?
        .ok_or_else(|| bad("no file".into()))?;
    if (now_mark.dev, now_mark.ino) != (mark.dev, mark.ino) {
        return Ok(());
    }
    if !tail.is_empty() {
        tmp.write_all(&tail)?;
        tmp.sync_data()?;
    }
    std::fs::rename(&tmp_path, path)?;
    let _ = dir.sync_all();
    Ok(())
}

fn dir_of(path: &str) -> &Path {
    match Path::new(path).parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
