//! The revocation journal: the state file as an append-only log of changes, one JSON object per
//! line, so that a change costs one small append (never a rewrite of the whole list) and every
//! worker of every generation can follow the changes of the others by reading what was
//! appended since it last looked.
//!
//! ```text
//! {"jwt_peer_auth_revocation":2}
//! {"op":"add","name":"sub","value":"peer-7","expires":1767225600}
//! {"op":"del","name":"sub","value":"peer-7","at":1767139200}
//! ```
//!
//! - The first line is the header (format version 2). Version 1 (the whole list as one JSON
//!   document, written by earlier versions) is still read, as a snapshot of adds.
//! - `add` lists an entry until `expires`, or extends a listed one (never shortens it); `del`
//!   removes it (`at`: when, so that compaction keeps recent removals for a while).
//! - Damage is per line: a line that is not valid JSON, too long ([`MAX_LINE`]) or not a
//!   record this version knows is reported and skipped; the lines before and after it still
//!   count. A last line without its newline is not read yet (an append may be under way).
//! - An `issued_before` entry is an `add` with one more member,
//!   `{"op":"add",...,"expires":E,"issued_before":T}`: only tokens issued before `T` are
//!   refused. A version that does not know a member or an `op` (0.1.0 before `issued_before`
//!   did not) reports the record as damaged ("unknown member ... (a later version's record?)")
//!   and skips it; the rest of the journal still applies. Plain entries keep the old form.
//! - Compaction writes the folded journal ([`compact`]) to a new file and renames it over the
//!   old one: the file is never partial.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::json;
use crate::revocation::{self, check_issued_before, check_name, check_value, Entry, ALL};

/// The header line of a version 2 journal (with its newline).
pub const HEADER: &str = "{\"jwt_peer_auth_revocation\":2}\n";
/// Longest line read as a record (a record of the longest name and value is about 450 bytes).
pub const MAX_LINE: usize = 4096;
/// How long compaction keeps a removal: a zone that has not read the journal for longer than
/// this since a removal (no worker of it ran) may keep the removed entry until it expires.
pub const KEEP_REMOVALS: i64 = 3600;

/// Damaged lines: each one's offset in the file and why.
pub type Damage = Vec<(u64, String)>;

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Add(Entry),
    Del { name: String, value: String, at: i64 },
}

impl Record {
    /// The record as one journal line (with its newline).
    pub fn render(&self) -> String {
        let mut s = String::new();
        match self {
            Record::Add(e) => {
                let _ = write!(
                    s,
                    "{{\"op\":\"add\",\"name\":{},\"value\":{},\"expires\":{}",
                    Value::String(e.name.clone()),
                    Value::String(e.value.clone()),
                    e.expires
                );
                if let Some(t) = e.issued_before {
                    let _ = write!(s, ",\"issued_before\":{t}");
                }
                s.push('}');
            }
            Record::Del { name, value, at } => {
                let _ = write!(
                    s,
                    "{{\"op\":\"del\",\"name\":{},\"value\":{},\"at\":{at}}}",
                    Value::String(name.clone()),
                    Value::String(value.clone())
                );
            }
        }
        s.push('\n');
        s
    }

    fn key(&self) -> (&str, &str) {
        match self {
            Record::Add(e) => (&e.name, &e.value),
            Record::Del { name, value, .. } => (name, value),
        }
    }
}

/// Parses one line (without its newline).
pub fn parse_record(line: &[u8]) -> Result<Record, String> {
    if line.len() > MAX_LINE {
        return Err(format!("a line longer than {MAX_LINE} bytes"));
    }
    if let Some(r) = parse_plain(line) {
        let (name, value) = r.key();
        check_name(name)?;
        check_value(value)?;
        return Ok(r);
    }
    let obj = json::parse_object(line).map_err(|_| "not a JSON object".to_owned())?;
    let string = |k: &str| -> Result<String, String> {
        obj.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("no string \"{k}\""))
    };
    let int = |k: &str| -> Result<i64, String> {
        obj.get(k)
            .and_then(Value::as_i64)
            .ok_or_else(|| format!("no integer \"{k}\""))
    };
    let op = string("op")?;
    let (known, rec): (&[&str], _) = match op.as_str() {
        "add" => (
            &["op", "name", "value", "expires", "issued_before"],
            Record::Add(Entry {
                name: string("name")?,
                value: string("value")?,
                expires: int("expires")?,
                issued_before: obj.get("issued_before").map(check_issued_before).transpose()?,
            }),
        ),
        "del" => (
            &["op", "name", "value", "at"],
            Record::Del {
                name: string("name")?,
                value: string("value")?,
                at: int("at")?,
            },
        ),
        other => {
            return Err(format!(
                "unknown \"op\" \"{}\" (a later version's record?)",
                crate::jwk::printable(other, 16)
            ))
        }
    };
    if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!(
            "unknown member \"{}\" (a later version's record?)",
            crate::jwk::printable(k, 32)
        ));
    }
    let (name, value) = rec.key();
    check_name(name)?;
    check_value(value)?;
    Ok(rec)
}

/// The records as [`Record::render`] writes them, with no escape in the strings: read without
/// a JSON parser (a start with 100,000 entries reads them in a fraction of the time). Anything
/// else (`None`) goes through the JSON parser.
fn parse_plain(line: &[u8]) -> Option<Record> {
    fn string(rest: &[u8]) -> Option<(&str, &[u8])> {
        let q = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[q] != b'"' {
            return None;
        }
        Some((std::str::from_utf8(&rest[..q]).ok()?, &rest[q + 1..]))
    }
    let rest = line.strip_prefix(b"{\"op\":\"")?;
    let (add, rest) = match rest.strip_prefix(b"add\",\"name\":\"") {
        Some(r) => (true, r),
        None => (false, rest.strip_prefix(b"del\",\"name\":\"")?),
    };
    let (name, rest) = string(rest)?;
    let (value, rest) = string(rest.strip_prefix(b",\"value\":\"")?)?;
    let rest = rest.strip_prefix(if add {
        &b",\"expires\":"[..]
    } else {
        &b",\"at\":"[..]
    })?;
    let digits = rest.strip_suffix(b"}")?;
    let (neg, digits) = match digits.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, digits),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits.iter().fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
    let n = if neg { -n } else { n };
    let (name, value) = (name.to_owned(), value.to_owned());
    Some(if add {
        Record::Add(Entry::new(name, value, n))
    } else {
        Record::Del { name, value, at: n }
    })
}

/// What a piece of a journal holds.
#[derive(Debug, Default)]
pub struct Chunk {
    pub records: Vec<Record>,
    /// Bytes read: up to and including the last complete line.
    pub consumed: usize,
    pub damage: Damage,
}

/// Reads the complete lines of `buf`, which starts at `offset` in the file (0: the header
/// comes first). A line longer than [`MAX_LINE`] without its newline in `buf` is consumed as
/// damage (its rest, read later, is damaged too: reported, never taken for a record).
pub fn parse_chunk(buf: &[u8], offset: u64) -> Chunk {
    let mut c = Chunk::default();
    let mut pos = 0;
    while pos < buf.len() {
        let at = offset + pos as u64;
        let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
            if buf.len() - pos > MAX_LINE {
                c.damage
                    .push((at, format!("a line longer than {MAX_LINE} bytes")));
                c.consumed = buf.len();
            }
            break;
        };
        let line = &buf[pos..pos + nl];
        pos += nl + 1;
        c.consumed = pos;
        if at == 0 {
            if line != HEADER.trim_end().as_bytes() {
                c.damage.push((0, "no journal header".to_owned()));
            }
            continue;
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        match parse_record(line) {
            Ok(r) => c.records.push(r),
            Err(why) => c.damage.push((at, why)),
        }
    }
    c
}

/// Whether `text` is a version 1 state file (the whole list in one document).
pub fn is_v1(text: &[u8]) -> bool {
    text.starts_with(b"{\"jwt_peer_auth_revocation\":1,")
}

/// Whether a file starting with `head` is a version 2 journal (an empty file is one too).
pub fn has_header(head: &[u8]) -> bool {
    head.is_empty() || head.starts_with(HEADER.as_bytes()) || HEADER.as_bytes().starts_with(head)
}

/// How long an entry is listed and which tokens it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Until {
    /// Unix time after which the entry no longer counts.
    pub expires: i64,
    /// Tokens issued before this are refused ([`ALL`]: every token).
    pub before: i64,
}

impl Until {
    pub fn of(e: &Entry) -> Until {
        Until {
            expires: e.expires,
            before: e.before(),
        }
    }

    /// Both: the later expiry and the later `issued_before` (an add never weakens an entry).
    pub fn merge(self, other: Until) -> Until {
        Until {
            expires: self.expires.max(other.expires),
            before: self.before.max(other.before),
        }
    }

    /// The entry of `name` and `value` listed so.
    pub fn entry(self, name: &str, value: &str) -> Entry {
        Entry {
            name: name.to_owned(),
            value: value.to_owned(),
            expires: self.expires,
            issued_before: (self.before != ALL).then_some(self.before),
        }
    }
}

/// The net effect of a run of records on one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// Listed at least so (only adds): the entry becomes the [`Until::merge`] of its own and
    /// this one.
    Extend(Until),
    /// Removed, then added: listed exactly so.
    Set(Until),
    /// Removed (last at this time).
    Removed(i64),
}

/// Records folded per entry, in first-seen order: applying the folded result of a run at once
/// gives the same list as applying the run record by record, without the states in between
/// (a removal then an add of the same entry never shows the entry missing).
#[derive(Debug, Default)]
pub struct Fold {
    index: HashMap<(String, String), usize>,
    pub items: Vec<((String, String), Net)>,
}

impl Fold {
    pub fn push(&mut self, r: Record) {
        let (key, next) = match r {
            Record::Add(e) => {
                let u = Until::of(&e);
                ((e.name, e.value), Net::Extend(u))
            }
            Record::Del { name, value, at } => ((name, value), Net::Removed(at)),
        };
        match self.index.get(&key) {
            Some(&i) => {
                let slot = &mut self.items[i].1;
                *slot = match (*slot, next) {
                    (_, Net::Removed(at)) => Net::Removed(at),
                    (Net::Extend(a), Net::Extend(b)) => Net::Extend(a.merge(b)),
                    (Net::Set(a), Net::Extend(b)) => Net::Set(a.merge(b)),
                    (Net::Removed(_), Net::Extend(b)) => Net::Set(b),
                    (_, Net::Set(_)) => unreachable!("a record is never Set"),
                };
            }
            None => {
                self.index.insert(key.clone(), self.items.len());
                self.items.push((key, next));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The entries listed after the whole run, applied to an empty list, not expired by `now`.
    pub fn entries(&self, now: i64) -> Vec<Entry> {
        self.items
            .iter()
            .filter_map(|((n, v), net)| match *net {
                Net::Extend(u) | Net::Set(u) if u.expires > now => Some(u.entry(n, v)),
                _ => None,
            })
            .collect()
    }
}

/// Reads a whole state file: version 1 (strict, as before: any damage is an error) or a
/// version 2 journal (damaged lines reported in `damage`, skipped). Returns the fold and, for
/// a journal, the bytes read (complete lines).
pub fn read_all(text: &[u8], now: i64) -> Result<(Fold, usize, Damage), String> {
    let mut fold = Fold::default();
    if is_v1(text) {
        for e in revocation::parse_state(text, now)? {
            fold.push(Record::Add(e));
        }
        return Ok((fold, text.len(), Vec::new()));
    }
    if !has_header(&text[..text.len().min(HEADER.len())]) {
        // One JSON document that is not a version 1 file: the version 1 reader says why.
        if json::parse_object(text).is_ok() {
            revocation::parse_state(text, now)?;
        }
        return Err("not a revocation journal (no header)".to_owned());
    }
    let c = parse_chunk(text, 0);
    for r in c.records {
        fold.push(r);
    }
    Ok((fold, c.consumed, c.damage))
}

/// The compacted journal of `fold`: the header, an `add` for each entry listed at `now`, a
/// `del` for each removal of the last [`KEEP_REMOVALS`] seconds.
pub fn compact(fold: &Fold, now: i64) -> String {
    let mut s = String::from(HEADER);
    for ((name, value), net) in &fold.items {
        let r = match *net {
            Net::Extend(u) | Net::Set(u) if u.expires > now => Record::Add(u.entry(name, value)),
            Net::Removed(at) if at > now - KEEP_REMOVALS => Record::Del {
                name: name.clone(),
                value: value.clone(),
                at,
            },
            _ => continue,
        };
        s.push_str(&r.render());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(v: &str, e: i64) -> Record {
        Record::Add(Entry::new("sub", v, e))
    }

    fn add_before(v: &str, e: i64, t: i64) -> Record {
        Record::Add(Entry {
            issued_before: Some(t),
            ..Entry::new("sub", v, e)
        })
    }

    fn ext(e: i64) -> Net {
        Net::Extend(Until {
            expires: e,
            before: ALL,
        })
    }

    fn del(v: &str, at: i64) -> Record {
        Record::Del {
            name: "sub".into(),
            value: v.into(),
            at,
        }
    }

    #[test]
    fn records_round_trip() {
        for r in [add("peer \"7\"", 99), del("é", 5)] {
            let line = r.render();
            assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
            assert_eq!(parse_record(line.trim_end().as_bytes()).unwrap(), r);
        }
    }

    #[test]
    fn plain_and_json_agree() {
        for r in [add("peer-1", 99), add("é", -5), del("x", 7)] {
            let line = r.render();
            let line = line.trim_end().as_bytes();
            assert_eq!(parse_plain(line), Some(r.clone()));
        }
        // Escapes, other member orders, spaces: the JSON parser.
        for line in [
            r#"{"op":"add","name":"sub","value":"a\"b","expires":9}"#,
            r#"{"name":"sub","op":"add","value":"a","expires":9}"#,
            r#"{"op":"add","name":"sub","value":"a","expires": 9}"#,
        ] {
            assert_eq!(parse_plain(line.as_bytes()), None, "{line}");
            assert!(parse_record(line.as_bytes()).is_ok(), "{line}");
        }
        for bad in [
            r#"{"op":"add","name":"sub","value":"a","expires":9,"x":1}"#,
            r#"{"op":"add","name":"sub","value":"a","expires":99999999999999999999}"#,
            r#"{"op":"add","name":"a b","value":"a","expires":9}"#,
            r#"{"op":"add","name":"sub","value":"","expires":9}"#,
        ] {
            assert!(parse_record(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn damaged_lines_are_skipped_and_reported() {
        let mut text = String::from(HEADER);
        text.push_str(&add("a", 100).render());
        text.push_str("garbage\n");
        text.push_str(&format!("{}\n", "x".repeat(MAX_LINE + 1)));
        // A member of a later version (as 0.1.0 before issued_before read an issued_before add).
        text.push_str("{\"op\":\"add\",\"name\":\"sub\",\"value\":\"z\",\"expires\":9,\"origin\":3}\n");
        text.push_str("{\"op\":\"feed\"}\n");
        text.push_str(&del("a", 50).render());
        text.push_str(&add("b", 100).render());
        text.push_str("{\"op\":\"add\",\"na");
        let c = parse_chunk(text.as_bytes(), 0);
        assert_eq!(c.records, [add("a", 100), del("a", 50), add("b", 100)]);
        assert_eq!(c.damage.len(), 4, "{:?}", c.damage);
        assert!(c.damage[2]
            .1
            .contains("unknown member \"origin\" (a later version"));
        // The partial last line is left for later.
        assert_eq!(c.consumed, text.rfind('\n').unwrap() + 1);
        // Read from the middle: offsets are the file's.
        let off = HEADER.len();
        let c2 = parse_chunk(&text.as_bytes()[off..], off as u64);
        assert_eq!(c2.records.len(), 3);
        assert_eq!(c2.damage[0].0, (off + add("a", 100).render().len()) as u64);
        // A long line without its newline yet is consumed as damage.
        let long = vec![b'x'; MAX_LINE + 10];
        let c3 = parse_chunk(&long, 100);
        assert_eq!((c3.consumed, c3.damage.len()), (long.len(), 1));
        // A file that is not a journal.
        assert_eq!(parse_chunk(b"hello\n", 0).damage[0].1, "no journal header");
        assert!(read_all(b"hello\n", 0).is_err());
        let other = read_all(br#"{"keys": []}"#, 0).unwrap_err();
        assert!(other.contains("not a revocation state file"), "{other}");
    }

    #[test]
    fn fold_is_the_net_effect() {
        let mut f = Fold::default();
        for r in [
            add("a", 10),
            add("a", 30),
            add("a", 20),
            add("b", 10),
            del("b", 1),
            add("b", 5),
            del("c", 2),
            add("d", 7),
            del("d", 3),
        ] {
            f.push(r);
        }
        let net: Vec<_> = f.items.iter().map(|((_, v), n)| (v.as_str(), *n)).collect();
        assert_eq!(
            net,
            [
                ("a", ext(30)),
                (
                    "b",
                    Net::Set(Until {
                        expires: 5,
                        before: ALL
                    })
                ),
                ("c", Net::Removed(2)),
                ("d", Net::Removed(3))
            ]
        );
        assert_eq!(f.entries(6).len(), 1);
        let text = compact(&f, 4);
        let (g, _, damage) = read_all(text.as_bytes(), 4).unwrap();
        assert!(damage.is_empty());
        assert_eq!(g.entries(4), f.entries(4));
        // Removals older than KEEP_REMOVALS are dropped by compaction.
        assert!(!compact(&f, 3 + KEEP_REMOVALS).contains("\"del\""));
    }

    #[test]
    fn issued_before_records() {
        let r = add_before("peer-7", 99, 50);
        let line = r.render();
        assert_eq!(
            line,
            "{\"op\":\"add\",\"name\":\"sub\",\"value\":\"peer-7\",\"expires\":99,\"issued_before\":50}\n"
        );
        // Not the plain form: the JSON parser reads it.
        assert_eq!(parse_plain(line.trim_end().as_bytes()), None);
        assert_eq!(parse_record(line.trim_end().as_bytes()).unwrap(), r);
        for bad in [
            r#"{"op":"add","name":"sub","value":"a","expires":9,"issued_before":0}"#,
            r#"{"op":"add","name":"sub","value":"a","expires":9,"issued_before":"5"}"#,
            r#"{"op":"add","name":"sub","value":"a","expires":9,"issued_before":1.5}"#,
            r#"{"op":"add","name":"sub","value":"a","expires":9,"issued_before":99999999999999}"#,
        ] {
            assert!(parse_record(bad.as_bytes()).is_err(), "{bad}");
        }
        // Folding: an add never weakens an entry (later expiry, later issued_before; a plain
        // entry refuses every token); a removal then an add sets it exactly.
        let mut f = Fold::default();
        for r in [
            add_before("a", 10, 5),
            add_before("a", 8, 7),
            add_before("b", 10, 5),
            add("b", 3),
            add("c", 10),
            del("c", 1),
            add_before("c", 4, 2),
        ] {
            f.push(r);
        }
        let net: Vec<_> = f.items.iter().map(|(_, n)| *n).collect();
        assert_eq!(
            net,
            [
                Net::Extend(Until {
                    expires: 10,
                    before: 7
                }),
                Net::Extend(Until {
                    expires: 10,
                    before: ALL
                }),
                Net::Set(Until {
                    expires: 4,
                    before: 2
                }),
            ]
        );
        let text = compact(&f, 0);
        let (g, _, damage) = read_all(text.as_bytes(), 0).unwrap();
        assert!(damage.is_empty());
        assert_eq!(g.entries(0), f.entries(0));
        assert_eq!(g.entries(0)[0].issued_before, Some(7));
        assert_eq!(g.entries(0)[1].issued_before, None);
    }

    #[test]
    fn version_1_is_read() {
        let v1 = revocation::render_state(&[Entry::new("identifier", "p", 50)]);
        let (f, n, _) = read_all(v1.as_bytes(), 10).unwrap();
        assert_eq!((f.entries(10).len(), n), (1, v1.len()));
        assert!(read_all(&v1.as_bytes()[..v1.len() - 5], 10).is_err());
        assert!(has_header(b"") && has_header(b"{\"jwt_peer") && !has_header(b"{\"x\""));
    }
}
