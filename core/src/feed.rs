//! The revocation feed: a JSON document every node of a fleet pulls over HTTP
//! (`jwt_peer_auth_revocation_feed`), read strictly, and the difference between two feeds, so
//! that a refresh applies only what changed.
//!
//! ```text
//! {"entries":[
//!   {"name":"sub","value":"peer-7","expires":1767225600},
//!   {"name":"sub","value":"peer-9","issued_before":1767139200,"expires":1767225600}
//! ]}
//! ```
//!
//! The entry shape is the revocation API's `GET` (its `expires_in` is accepted and ignored, so
//! a node's `GET` can be published as a feed), plus `issued_before`. Any other member, a
//! repeated entry, a bad name or value, an expiry more than a year ahead, a document larger than
//! [`MAX_FEED`] or with more than [`MAX_ENTRIES`] entries: the whole document is refused (the
//! node keeps the last good feed), never a silently shorter list. Entries that have expired are
//! dropped.

use std::cmp::Ordering;

use serde::Deserialize;

use crate::revocation::{check_name, check_value, Entry, MAX_TIME, MAX_TTL};

/// Largest feed document read: about 300,000 entries of typical size.
pub const MAX_FEED: usize = 32 * 1024 * 1024;
/// Most entries in a feed.
pub const MAX_ENTRIES: usize = 1_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    entries: Vec<Item>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    name: String,
    value: String,
    expires: i64,
    #[serde(default)]
    issued_before: Option<i64>,
    /// The API's `GET` shape: ignored.
    #[serde(default)]
    #[allow(dead_code)]
    expires_in: Option<i64>,
}

/// Reads a feed document: its entries not expired at `now`, sorted by name and value.
pub fn parse(body: &[u8], now: i64) -> Result<Vec<Entry>, String> {
    if body.len() > MAX_FEED {
        return Err(format!("larger than {MAX_FEED} bytes"));
    }
    let doc: Doc = serde_json::from_slice(body).map_err(|e| {
        let msg = e.to_string();
        // serde's message names the member and position: printable and bounded.
        format!("not a feed document ({})", crate::jwk::printable(&msg, 120))
    })?;
    if doc.entries.len() > MAX_ENTRIES {
        return Err(format!("more than {MAX_ENTRIES} entries"));
    }
    let mut out = Vec::with_capacity(doc.entries.len());
    for (i, it) in doc.entries.into_iter().enumerate() {
        let bad = |what: &str| format!("entry {}: {what}", i + 1);
        check_name(&it.name).map_err(|m| bad(&m))?;
        check_value(&it.value).map_err(|m| bad(&m))?;
        if it.expires > now.saturating_add(MAX_TTL as i64) {
            return Err(bad(&format!(
                "\"expires\" is more than {} days ahead",
                MAX_TTL / 86400
            )));
        }
        if let Some(t) = it.issued_before {
            if !(1..=MAX_TIME).contains(&t) {
                return Err(bad(&format!(
                    "\"issued_before\" must be a Unix time in whole seconds (1 to {MAX_TIME})"
                )));
            }
        }
        if it.expires > now {
            out.push(Entry {
                name: it.name,
                value: it.value,
                expires: it.expires,
                issued_before: it.issued_before,
            });
        }
    }
    out.sort_unstable_by(by_key);
    if let Some(w) = out.windows(2).find(|w| by_key(&w[0], &w[1]) == Ordering::Equal) {
        return Err(format!(
            "the entry \"{}\" \"{}\" is repeated",
            w[0].name,
            crate::jwk::printable(&w[0].value, 64)
        ));
    }
    Ok(out)
}

/// The order of feeds: by name, then value.
pub fn by_key(a: &Entry, b: &Entry) -> Ordering {
    (a.name.as_str(), a.value.as_str()).cmp(&(b.name.as_str(), b.value.as_str()))
}

/// One change between two feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Listed (new, or with another expiry or `issued_before`): set exactly so.
    Put(Entry),
    /// No longer in the feed: lifted.
    Lift { name: String, value: String },
}

/// What changed from `old` to `new` (both sorted by [`by_key`], as [`parse`] returns them):
/// one pass over both, O(n).
pub fn diff(old: &[Entry], new: &[Entry]) -> Vec<Change> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        let ord = match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) => by_key(a, b),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match ord {
            Ordering::Less => {
                out.push(Change::Lift {
                    name: old[i].name.clone(),
                    value: old[i].value.clone(),
                });
                i += 1;
            }
            Ordering::Greater => {
                out.push(Change::Put(new[j].clone()));
                j += 1;
            }
            Ordering::Equal => {
                if old[i] != new[j] {
                    out.push(Change::Put(new[j].clone()));
                }
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The snapshot of the last feed a node applied, kept next to the revocation state file so
/// that a restarted node enforces it before its first fetch: a header line with the answer's
/// validators, then the document as it was received.
///
/// ```text
/// {"jwt_peer_auth_feed":1,"etag":"\"v7\"","last_modified":"Mon, 07 Dec 2026 17:00:00 GMT"}
/// {"entries":[...]}
/// ```
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotHeader {
    jwt_peer_auth_feed: u32,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    last_modified: Option<String>,
}

/// Longest validator kept (`ETag`, `Last-Modified`): longer ones are not sent back.
pub const MAX_VALIDATOR: usize = 256;

/// Whether a validator can be sent back as a header value: printable ASCII, bounded.
pub fn usable_validator(v: &[u8]) -> bool {
    !v.is_empty() && v.len() <= MAX_VALIDATOR && v.iter().all(|&b| (0x20..0x7f).contains(&b))
}

/// The snapshot's header line (with its newline).
pub fn snapshot_header(v: &Validators) -> String {
    let s = |o: &Option<String>| {
        o.as_ref().map_or("null".to_owned(), |t| {
            serde_json::Value::String(t.clone()).to_string()
        })
    };
    format!(
        "{{\"jwt_peer_auth_feed\":1,\"etag\":{},\"last_modified\":{}}}\n",
        s(&v.etag),
        s(&v.last_modified)
    )
}

/// Splits a snapshot into its validators and the document.
pub fn parse_snapshot(text: &[u8]) -> Result<(Validators, &[u8]), String> {
    let nl = text.iter().position(|&b| b == b'\n').ok_or("no header line")?;
    let h: SnapshotHeader =
        serde_json::from_slice(&text[..nl]).map_err(|_| "not a feed snapshot (bad header line)")?;
    if h.jwt_peer_auth_feed != 1 {
        return Err(format!(
            "feed snapshot version {} is not supported",
            h.jwt_peer_auth_feed
        ));
    }
    let validators = Validators {
        etag: h.etag,
        last_modified: h.last_modified,
    };
    Ok((validators, &text[nl + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(v: &str, exp: i64, before: Option<i64>) -> Entry {
        Entry {
            issued_before: before,
            ..Entry::new("sub", v, exp)
        }
    }

    #[test]
    fn parses_the_api_shape_and_issued_before() {
        let doc = br#"{"entries":[
            {"name":"sub","value":"peer-9","expires":200,"expires_in":100},
            {"name":"sub","value":"peer-7","issued_before":50,"expires":300},
            {"name":"jti","value":"old","expires":90}
        ]}"#;
        let got = parse(doc, 100).unwrap();
        assert_eq!(got, [e("peer-7", 300, Some(50)), e("peer-9", 200, None)]);
        assert_eq!(parse(br#"{"entries":[]}"#, 0).unwrap(), []);
    }

    #[test]
    fn refuses_anything_else_whole() {
        let bad: &[&[u8]] = &[
            b"",
            b"[]",
            b"{}",
            br#"{"entries":{}}"#,
            br#"{"entries":[],"extra":1}"#,
            br#"{"entries":[],"entries":[]}"#,
            br#"{"entries":[{"name":"sub","value":"a"}]}"#,
            br#"{"entries":[{"name":"sub","value":"a","expires":200,"x":1}]}"#,
            br#"{"entries":[{"name":"sub","value":"a","expires":"200"}]}"#,
            br#"{"entries":[{"name":"sub","value":"a","expires":200.5}]}"#,
            br#"{"entries":[{"name":"a b","value":"a","expires":200}]}"#,
            br#"{"entries":[{"name":"sub","value":"","expires":200}]}"#,
            br#"{"entries":[{"name":"sub","value":"a","expires":200,"issued_before":0}]}"#,
            br#"{"entries":[{"name":"sub","value":"a","expires":99999999999}]}"#,
            br#"{"entries":[{"name":"sub","value":"a","expires":200},{"name":"sub","value":"a","expires":300}]}"#,
            br#"{"entries":[{"name":"sub","value":"a","expires":200}]} x"#,
            b"\xef\xbb\xbf{\"entries\":[]}",
        ];
        for b in bad {
            assert!(parse(b, 100).is_err(), "{}", String::from_utf8_lossy(b));
        }
        let big = vec![b' '; MAX_FEED + 1];
        assert!(parse(&big, 0).unwrap_err().contains("larger"));
        // The message names the entry.
        let m = parse(
            br#"{"entries":[{"name":"sub","value":"a","expires":200},{"name":"sub","value":"a\nb","expires":300}]}"#,
            0,
        )
        .unwrap_err();
        assert!(m.starts_with("entry 2:"), "{m}");
    }

    #[test]
    fn diff_is_what_changed() {
        let old = [
            e("a", 10, None),
            e("b", 10, None),
            e("c", 10, None),
            e("d", 10, Some(3)),
        ];
        let new = [
            e("b", 10, None),
            e("c", 20, None),
            e("d", 10, Some(4)),
            e("e", 10, None),
        ];
        let d = diff(&old, &new);
        assert_eq!(
            d,
            [
                Change::Lift {
                    name: "sub".into(),
                    value: "a".into()
                },
                Change::Put(e("c", 20, None)),
                Change::Put(e("d", 10, Some(4))),
                Change::Put(e("e", 10, None)),
            ]
        );
        assert!(diff(&new, &new).is_empty());
        assert_eq!(diff(&[], &new).len(), 4);
        assert_eq!(diff(&old, &[]).len(), 4);
    }

    #[test]
    fn diff_of_large_feeds_is_linear() {
        let old: Vec<Entry> = (0..100_000).map(|i| e(&format!("p{i:06}"), 10, None)).collect();
        let mut new = old.clone();
        new.remove(500);
        new.push(e("p999999", 10, None));
        new[7].expires = 20;
        let t = std::time::Instant::now();
        let d = diff(&old, &new);
        assert_eq!(d.len(), 3);
        assert!(t.elapsed().as_secs() < 5);
    }

    #[test]
    fn snapshots() {
        let v = Validators {
            etag: Some("\"v7\"".into()),
            last_modified: None,
        };
        let mut text = snapshot_header(&v).into_bytes();
        text.extend_from_slice(br#"{"entries":[]}"#);
        let (got, doc) = parse_snapshot(&text).unwrap();
        assert_eq!(got, v);
        assert_eq!(doc, br#"{"entries":[]}"#);
        assert!(parse_snapshot(b"{\"jwt_peer_auth_feed\":2}\n{}").is_err());
        assert!(parse_snapshot(b"{\"entries\":[]}").is_err());
        assert!(usable_validator(b"W/\"x\"") && !usable_validator(b"a\r\nb") && !usable_validator(b""));
    }
}
