//! Runtime revocation: what an entry is, which values of a verified token it can match, the
//! revocation API's input, and the state file. The shared list itself is NGINX glue.
//!
//! An entry is a (name, value, expiry) triple. `name` is a top-level claim (`identifier`,
//! `token_id`, `jti`, `sub`, ...) or `header.kid`; a token is revoked when one of the checked
//! names has a listed value (for an array claim, any element).

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::json;
use crate::verify::Verified;

/// Longest entry name, in bytes.
pub const MAX_NAME: usize = 64;
/// Longest entry value, in bytes: longer claim values can never be listed (and are not looked
/// up).
pub const MAX_VALUE: usize = 256;
/// Longest time an entry may live: a year.
pub const MAX_TTL: u64 = 366 * 24 * 3600;
/// Largest API request body.
pub const MAX_BODY: usize = 4096;
/// The name that lists a JOSE header `kid` instead of a claim.
pub const HEADER_KID: &str = "header.kid";
/// The name that lists a DPoP key thumbprint: the token's `cnf.jkt` (RFC 9449 §6.1), not a
/// top-level claim of that name.
pub const CNF_JKT: &str = "cnf.jkt";
/// Room for a lookup key: name, a NUL, value.
pub const KEY_LEN: usize = MAX_NAME + 1 + MAX_VALUE;

/// One revoked value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub value: String,
    /// Unix time after which the entry no longer counts.
    pub expires: i64,
    /// Only tokens issued before this Unix time (`iat`) are refused (a token without `iat`
    /// too); `None`: every token with the value.
    pub issued_before: Option<i64>,
}

/// The `issued_before` of an entry that refuses every token with its value.
pub const ALL: i64 = i64::MAX;
/// Latest time accepted for `issued_before` (9999-12-31): keeps the arithmetic of callers away
/// from overflow and [`ALL`].
pub const MAX_TIME: i64 = 253_402_300_799;

impl Entry {
    /// A plain entry: every token with the value until `expires`.
    pub fn new(name: impl Into<String>, value: impl Into<String>, expires: i64) -> Entry {
        Entry {
            name: name.into(),
            value: value.into(),
            expires,
            issued_before: None,
        }
    }

    /// `issued_before`, with [`ALL`] for a plain entry.
    pub fn before(&self) -> i64 {
        self.issued_before.unwrap_or(ALL)
    }
}

/// Whether an entry with `before` (its `issued_before`, [`ALL`] for a plain entry) refuses a
/// token issued at `iat`: a plain entry refuses every token; an `issued_before` entry the
/// tokens issued before it and those without `iat` (their age is unknown).
pub fn refuses(before: i64, iat: Option<i64>) -> bool {
    before == ALL || iat.is_none_or(|t| t < before)
}

/// Checks an `issued_before` time: a whole number of seconds, 1 to [`MAX_TIME`].
pub fn check_issued_before(v: &Value) -> Result<i64, String> {
    match v.as_i64() {
        Some(t) if (1..=MAX_TIME).contains(&t) => Ok(t),
        _ => Err(format!(
            "\"issued_before\" must be a Unix time in whole seconds (1 to {MAX_TIME})"
        )),
    }
}

/// Checks an entry name: `header.kid`, or a top-level claim name of printable ASCII without
/// quotes or backslashes (other `header.` members are not supported).
pub fn check_name(name: &str) -> Result<(), String> {
    if name == HEADER_KID {
        return Ok(());
    }
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!("\"name\" must be 1 to {MAX_NAME} bytes"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !c.is_ascii_graphic() || *c == '"' || *c == '\\')
    {
        return Err(format!("\"name\" has an invalid character {c:?}"));
    }
    if name.starts_with("header.") {
        return Err(format!(
            "\"name\" \"{name}\" is not supported: \"{HEADER_KID}\" is the only header member"
        ));
    }
    Ok(())
}

/// Checks an entry value: 1 to [`MAX_VALUE`] bytes of UTF-8 without control characters.
pub fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_VALUE {
        return Err(format!("\"value\" must be 1 to {MAX_VALUE} bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err("\"value\" has a control character".to_owned());
    }
    Ok(())
}

/// A time to live: NGINX time syntax (`90`, `30s`, `15m`, `25h`, `7d`, `1d12h`), more than 0
/// and at most [`MAX_TTL`].
pub fn parse_ttl(s: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "invalid \"ttl\" \"{}\": a time like \"25h\" or \"7d\" is expected",
            crate::jwk::printable(s, 32)
        )
    };
    if s.is_empty() || s.len() > 32 {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            let n = number
                .unwrap_or(0)
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d)));
            number = Some(n.ok_or_else(bad)?);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 7 * 86400,
            _ => return Err(bad()),
        };
        let n = number.take().ok_or_else(bad)?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if let Some(n) = number {
        total = total.checked_add(n).ok_or_else(bad)?;
    }
    if total == 0 || total > MAX_TTL {
        return Err(format!(
            "\"ttl\" must be more than 0s and at most {}d",
            MAX_TTL / 86400
        ));
    }
    Ok(total)
}

/// A `POST` to the revocation API: add (or extend) an entry.
#[derive(Debug, PartialEq, Eq)]
pub struct Add {
    pub name: String,
    pub value: String,
    pub ttl: u64,
    /// `issued_before`: only tokens issued before this time are refused.
    pub issued_before: Option<i64>,
}

/// Parses a `POST` body: a JSON object with `name` and `value` (strings; a numeric `value` is
/// taken as its JSON text), an optional `ttl` (a time string or a number of seconds) and an
/// optional `issued_before` (a Unix time: only tokens issued before it are refused).
/// Anything else is refused with what is wrong.
pub fn parse_add(body: &[u8], default_ttl: u64) -> Result<Add, String> {
    if body.len() > MAX_BODY {
        return Err(format!("the body is larger than {MAX_BODY} bytes"));
    }
    let obj = json::parse_object(body).map_err(|e| match e {
        json::JsonError::NotObject => "the body must be a JSON object".to_owned(),
        json::JsonError::Invalid => "the body is not valid JSON (or repeats a member)".to_owned(),
    })?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "name" | "value" | "ttl" | "issued_before"))
    {
        return Err(format!(
            "unknown member \"{}\": \"name\", \"value\", \"ttl\" and \"issued_before\" are expected",
            crate::jwk::printable(k, 32)
        ));
    }
    let name = match obj.get("name") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("\"name\" must be a string".to_owned()),
        None => return Err("\"name\" is missing".to_owned()),
    };
    check_name(&name)?;
    let value = match obj.get("value") {
        Some(Value::String(s)) => s.clone(),
        // Only integers: the forms a claim is matched in (a fraction never matches).
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(Value::Number(_)) => return Err("a numeric \"value\" must be a whole number".to_owned()),
        Some(_) => return Err("\"value\" must be a string or a number".to_owned()),
        None => return Err("\"value\" is missing".to_owned()),
    };
    check_value(&value)?;
    let ttl = match obj.get("ttl") {
        None => default_ttl,
        Some(Value::String(s)) => parse_ttl(s)?,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(secs) => parse_ttl(&secs.to_string())?,
            None => return Err("\"ttl\" must be a positive whole number of seconds".to_owned()),
        },
        Some(_) => return Err("\"ttl\" must be a string like \"25h\" or a number of seconds".to_owned()),
    };
    let issued_before = obj.get("issued_before").map(check_issued_before).transpose()?;
    Ok(Add {
        name,
        value,
        ttl,
        issued_before,
    })
}

/// Parses the query of a `DELETE`: exactly one `name` and one `value`, percent-encoded (`+` is
/// a space, as in forms and `curl --data-urlencode`).
pub fn parse_delete(query: &[u8]) -> Result<(String, String), String> {
    let mut name = None;
    let mut value = None;
    for part in query.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match part.iter().position(|&b| b == b'=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &b""[..]),
        };
        let slot = match k {
            b"name" => &mut name,
            b"value" => &mut value,
            _ => {
                return Err(format!(
                    "unknown argument \"{}\": \"name\" and \"value\" are expected",
                    crate::jwk::printable(&String::from_utf8_lossy(k), 32)
                ))
            }
        };
        if slot.is_some() {
            return Err(format!("argument \"{}\" is repeated", String::from_utf8_lossy(k)));
        }
        *slot = Some(percent_decode(v)?);
    }
    let name = name.ok_or("argument \"name\" is missing")?;
    let value = value.ok_or("argument \"value\" is missing")?;
    check_name(&name)?;
    check_value(&value)?;
    Ok((name, value))
}

fn percent_decode(s: &[u8]) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or("an argument has a broken %-escape")?;
                let hex = std::str::from_utf8(hex).map_err(|_| "an argument has a broken %-escape")?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| "an argument has a broken %-escape")?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "an argument is not valid UTF-8".to_owned())
}

/// The lookup key of an entry: name, NUL, value (a name never contains NUL).
pub fn key<'b>(name: &str, value: &str, buf: &'b mut [u8; KEY_LEN]) -> Option<&'b [u8]> {
    let n = name.len() + 1 + value.len();
    if name.len() > MAX_NAME || value.len() > MAX_VALUE {
        return None;
    }
    buf[..name.len()].copy_from_slice(name.as_bytes());
    buf[name.len()] = 0;
    buf[name.len() + 1..n].copy_from_slice(value.as_bytes());
    Some(&buf[..n])
}

/// Splits a lookup key into name and value.
pub fn split_key(key: &[u8]) -> Option<(&str, &str)> {
    let i = key.iter().position(|&b| b == 0)?;
    Some((
        std::str::from_utf8(&key[..i]).ok()?,
        std::str::from_utf8(&key[i + 1..]).ok()?,
    ))
}

/// Calls `f` with every value of `name` in a verified token that an entry could list: for
/// `header.kid`, the token's `kid` and the `kid` of the key that verified it (a token that
/// names no `kid`, or another one, cannot slip past a revoked key); a string or integer claim;
/// each string or integer element of an array claim; for `cnf.jkt`, the token's DPoP key
/// thumbprint. Stops at the first `true` and returns it.
/// Allocates at most the value of `name` (for a token from the cache, whose claims are read
/// one at a time from the text).
pub fn any_value(v: &Verified, name: &str, mut f: impl FnMut(&str) -> bool) -> bool {
    if name == HEADER_KID {
        return v.kid().is_some_and(&mut f) || v.key_kid.as_deref().is_some_and(f);
    }
    if name == CNF_JKT {
        return match v.claim("cnf").as_deref() {
            Some(Value::Object(cnf)) => cnf.get("jkt").and_then(Value::as_str).is_some_and(f),
            _ => false,
        };
    }
    match v.claim(name).as_deref() {
        Some(Value::Array(items)) => items.iter().any(|i| scalar(i, &mut f)),
        Some(other) => scalar(other, &mut f),
        None => false,
    }
}

fn scalar(v: &Value, f: &mut impl FnMut(&str) -> bool) -> bool {
    match v {
        Value::String(s) => f(s),
        Value::Number(n) => {
            let mut buf = StackText::default();
            let written = if let Some(i) = n.as_i64() {
                write!(buf, "{i}")
            } else if let Some(u) = n.as_u64() {
                write!(buf, "{u}")
            } else {
                return false;
            };
            written.is_ok() && f(buf.as_str())
        }
        _ => false,
    }
}

/// Text written on the stack (a decimal integer).
#[derive(Default)]
struct StackText {
    bytes: [u8; 24],
    len: usize,
}

impl StackText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn entry_json(out: &mut String, e: &Entry, now: Option<i64>) {
    let _ = write!(
        out,
        "{{\"name\":{},\"value\":{},\"expires\":{}",
        Value::String(e.name.clone()),
        Value::String(e.value.clone()),
        e.expires
    );
    if let Some(t) = e.issued_before {
        let _ = write!(out, ",\"issued_before\":{t}");
    }
    if let Some(now) = now {
        let _ = write!(out, ",\"expires_in\":{}", (e.expires - now).max(0));
    }
    out.push('}');
}

/// One entry as the API answers it.
pub fn render_entry(e: &Entry, now: i64) -> String {
    let mut s = String::new();
    entry_json(&mut s, e, Some(now));
    s.push('\n');
    s
}

/// The list as `GET` answers it: entries that have not expired, in the order given.
pub fn render_list(entries: &[Entry], now: i64) -> String {
    let mut s = String::from("{\"entries\":[");
    for (i, e) in entries.iter().filter(|e| e.expires > now).enumerate() {
        if i > 0 {
            s.push(',');
        }
        entry_json(&mut s, e, Some(now));
    }
    s.push_str("]}\n");
    s
}

/// An API error as a JSON body.
pub fn render_error(message: &str) -> String {
    format!("{{\"error\":{}}}\n", Value::String(message.to_owned()))
}

/// The marker and version at the top of a state file.
const STATE_MARKER: &str = "jwt_peer_auth_revocation";
const STATE_VERSION: u64 = 1;
/// Largest state file read.
pub const MAX_STATE: usize = 64 * 1024 * 1024;

/// The state file's text: `{"jwt_peer_auth_revocation":1,"entries":[{name, value, expires}]}`.
pub fn render_state(entries: &[Entry]) -> String {
    let mut s = format!("{{\"{STATE_MARKER}\":{STATE_VERSION},\"entries\":[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('\n');
        entry_json(&mut s, e, None);
    }
    s.push_str("\n]}\n");
    s
}

/// Reads a state file's text, strictly: any damage is an error naming it (never a silently
/// shorter list). Entries that expired by `now` are dropped.
pub fn parse_state(text: &[u8], now: i64) -> Result<Vec<Entry>, String> {
    if text.len() > MAX_STATE {
        return Err(format!("larger than {MAX_STATE} bytes"));
    }
    let obj: Map<String, Value> = json::parse_object(text).map_err(|_| "not a JSON object".to_owned())?;
    match obj.get(STATE_MARKER).and_then(Value::as_u64) {
        Some(STATE_VERSION) => {}
        Some(v) => return Err(format!("format version {v} is not supported")),
        None => {
            return Err(format!(
                "no \"{STATE_MARKER}\" version: not a revocation state file"
            ))
        }
    }
    if obj.len() != 2 {
        return Err("unexpected members".to_owned());
    }
    let Some(Value::Array(items)) = obj.get("entries") else {
        return Err("no \"entries\" array".to_owned());
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let bad = |what: &str| format!("entry {}: {what}", i + 1);
        let Some(e) = item.as_object() else {
            return Err(bad("not an object"));
        };
        if e.len() != 3 {
            return Err(bad("\"name\", \"value\" and \"expires\" are expected"));
        }
        let (Some(name), Some(value), Some(expires)) = (
            e.get("name").and_then(Value::as_str),
            e.get("value").and_then(Value::as_str),
            e.get("expires").and_then(Value::as_i64),
        ) else {
            return Err(bad(
                "\"name\", \"value\" (strings) and \"expires\" (a number) are expected",
            ));
        };
        check_name(name).map_err(|m| bad(&m))?;
        check_value(value).map_err(|m| bad(&m))?;
        if expires > now {
            out.push(Entry::new(name, value, expires));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod cnf_tests {
    use super::*;
    use crate::verify::{KeyRef, Times};

    #[test]
    fn cnf_jkt_names_the_dpop_thumbprint() {
        let t = Times {
            exp: 10,
            nbf: None,
            iat: None,
        };
        let v = |claims: &str| {
            Verified::from_texts(
                "{}",
                claims,
                crate::Algorithm::RS256,
                t,
                KeyRef { set: 0, key: 0 },
            )
            .unwrap()
        };
        assert!(any_value(&v(r#"{"cnf":{"jkt":"abc"}}"#), CNF_JKT, |s| s == "abc"));
        assert!(!any_value(&v(r#"{"cnf":{"jkt":"abc"}}"#), CNF_JKT, |s| s == "abd"));
        assert!(!any_value(&v(r#"{"cnf":"abc"}"#), CNF_JKT, |_| true));
        assert!(
            !any_value(&v(r#"{"cnf.jkt":"abc"}"#), CNF_JKT, |_| true),
            "not a top-level claim"
        );
        assert!(check_name(CNF_JKT).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["identifier", "token_id", "jti", "sub", "header.kid", "x-y.z"] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a b", "a\"b", "a\\b", "header.alg", "é", &"n".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values() {
        assert!(check_value("3f1c-uuid").is_ok());
        assert!(check_value("élan vital").is_ok());
        assert!(check_value("").is_err());
        assert!(check_value("a\nb").is_err());
        assert!(check_value(&"v".repeat(257)).is_err());
        assert!(check_value(&"v".repeat(256)).is_ok());
    }

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("25h"), Ok(90000));
        assert_eq!(parse_ttl("90"), Ok(90));
        assert_eq!(parse_ttl("1d12h"), Ok(129600));
        assert_eq!(parse_ttl("1w"), Ok(604800));
        assert_eq!(parse_ttl("366d"), Ok(MAX_TTL));
        for bad in [
            "",
            "0",
            "0s",
            "h",
            "5x",
            "-5s",
            "367d",
            "99999999999999999999999",
            "1.5h",
            " 5s",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn add_bodies() {
        let a = parse_add(br#"{"name":"identifier","value":"peer-1","ttl":"2h"}"#, 90000).unwrap();
        assert_eq!(
            a,
            Add {
                name: "identifier".into(),
                value: "peer-1".into(),
                ttl: 7200,
                issued_before: None,
            }
        );
        assert_eq!(
            parse_add(br#"{"name":"jti","value":42}"#, 90000).unwrap().value,
            "42"
        );
        assert_eq!(
            parse_add(br#"{"name":"jti","value":"x"}"#, 90000).unwrap().ttl,
            90000
        );
        assert_eq!(
            parse_add(br#"{"name":"jti","value":"x","ttl":60}"#, 9)
                .unwrap()
                .ttl,
            60
        );
        let err = |b: &[u8]| parse_add(b, 90000).unwrap_err();
        assert!(err(b"").contains("not valid JSON"));
        assert!(err(b"[1]").contains("JSON object"));
        assert!(err(br#"{"value":"x"}"#).contains("\"name\" is missing"));
        assert!(err(br#"{"name":"jti"}"#).contains("\"value\" is missing"));
        assert!(err(br#"{"name":"jti","value":"x","extra":1}"#).contains("unknown member \"extra\""));
        assert!(err(br#"{"name":"jti","value":"x","ttl":"soon"}"#).contains("invalid \"ttl\""));
        assert!(err(br#"{"name":"jti","value":"x","ttl":-1}"#).contains("positive"));
        assert!(err(br#"{"name":"jti","value":null}"#).contains("string or a number"));
        assert!(err(br#"{"name":"jti","value":"x","value":"y"}"#).contains("repeats"));
        assert!(err(br#"{"name":"header.alg","value":"x"}"#).contains("not supported"));
        assert!(err(&vec![b' '; MAX_BODY + 1]).contains("larger"));
    }

    #[test]
    fn issued_before_entries() {
        let a = parse_add(
            br#"{"name":"sub","value":"peer-7","issued_before":1767225600}"#,
            90000,
        )
        .unwrap();
        assert_eq!(a.issued_before, Some(1_767_225_600));
        for bad in [
            r#"{"name":"sub","value":"p","issued_before":0}"#,
            r#"{"name":"sub","value":"p","issued_before":-5}"#,
            r#"{"name":"sub","value":"p","issued_before":"1767225600"}"#,
            r#"{"name":"sub","value":"p","issued_before":1.5}"#,
            r#"{"name":"sub","value":"p","issued_before":99999999999999}"#,
        ] {
            assert!(
                parse_add(bad.as_bytes(), 9)
                    .unwrap_err()
                    .contains("issued_before"),
                "{bad}"
            );
        }
        // A plain entry refuses every token; an issued_before entry the older ones and those
        // without iat; a token issued at the time itself is newer.
        assert!(refuses(ALL, Some(i64::MAX - 1)) && refuses(ALL, None));
        assert!(refuses(100, Some(99)) && refuses(100, None));
        assert!(!refuses(100, Some(100)) && !refuses(100, Some(5000)));
        let e = Entry {
            issued_before: Some(50),
            ..Entry::new("sub", "p", 200)
        };
        assert_eq!(
            render_entry(&e, 100),
            "{\"name\":\"sub\",\"value\":\"p\",\"expires\":200,\"issued_before\":50,\"expires_in\":100}\n"
        );
    }

    #[test]
    fn delete_queries() {
        assert_eq!(
            parse_delete(b"name=identifier&value=peer%2D1+x").unwrap(),
            ("identifier".into(), "peer-1 x".into())
        );
        assert!(parse_delete(b"name=jti")
            .unwrap_err()
            .contains("\"value\" is missing"));
        assert!(parse_delete(b"name=jti&value=a&value=b")
            .unwrap_err()
            .contains("repeated"));
        assert!(parse_delete(b"name=jti&value=%zz")
            .unwrap_err()
            .contains("%-escape"));
        assert!(parse_delete(b"name=jti&value=%ff").unwrap_err().contains("UTF-8"));
        assert!(parse_delete(b"name=jti&value=%0a")
            .unwrap_err()
            .contains("control"));
        assert!(parse_delete(b"name=jti&value=x&other=1")
            .unwrap_err()
            .contains("unknown"));
        assert!(parse_delete(b"name=jti&value=").unwrap_err().contains("1 to"));
    }

    #[test]
    fn keys_round_trip() {
        let mut buf = [0u8; KEY_LEN];
        let k = key("identifier", "peer-1", &mut buf).unwrap().to_vec();
        assert_eq!(split_key(&k), Some(("identifier", "peer-1")));
        assert!(key("identifier", &"v".repeat(MAX_VALUE + 1), &mut buf).is_none());
    }

    fn verified(header: &str, claims: &str) -> Verified {
        use crate::verify::{KeyRef, Times};
        let times = Times {
            exp: 0,
            nbf: None,
            iat: None,
        };
        Verified::from_texts(
            header,
            claims,
            crate::Algorithm::RS256,
            times,
            KeyRef { set: 0, key: 0 },
        )
        .unwrap()
        .with_key_kid("key-k")
    }

    #[test]
    fn token_values() {
        let fresh = verified(
            r#"{"kid":"k1"}"#,
            r#"{"identifier":"peer-1","jti":42,"aud":["a","b"],"obj":{"x":"y"},"f":1.5,"\u0065sc":"e"}"#,
        );
        // As verified (claims parsed), and as a token-cache hit (each claim read from the text).
        let cached = Verified::from_checked(fresh.checked().clone());
        for v in [&fresh, &cached] {
            let mut seen = Vec::new();
            let collect = |name: &str, seen: &mut Vec<String>| {
                any_value(v, name, |s| {
                    seen.push(s.to_owned());
                    false
                })
            };
            for n in [
                "identifier",
                "jti",
                "aud",
                "obj",
                "f",
                "missing",
                "esc",
                "header.kid",
            ] {
                collect(n, &mut seen);
            }
            assert_eq!(seen, ["peer-1", "42", "a", "b", "e", "k1", "key-k"]);
            assert!(any_value(v, "aud", |s| s == "b"));
            assert!(!any_value(v, "cnf.jkt", |_| true), "no cnf here");
            assert!(!any_value(v, "aud", |s| s == "c"));
        }
        // A token without a kid header is still matched by the verifying key's kid, also as a
        // token-cache hit (the kid is kept with the cached part).
        let no_kid = verified("{}", "{}");
        assert!(any_value(&no_kid, "header.kid", |s| s == "key-k"));
        let cached = Verified::from_checked(no_kid.checked().clone());
        assert!(any_value(&cached, "header.kid", |s| s == "key-k"));
    }

    #[test]
    fn state_round_trip_and_damage() {
        let entries = vec![
            Entry::new("identifier", "peer \"1\"", 2000),
            Entry::new("jti", "old", 500),
        ];
        let text = render_state(&entries);
        assert_eq!(parse_state(text.as_bytes(), 100).unwrap(), entries);
        assert_eq!(parse_state(text.as_bytes(), 1000).unwrap(), entries[..1]);
        let damaged = [
            &text[..text.len() / 2],
            "",
            "{}",
            r#"{"jwt_peer_auth_revocation":2,"entries":[]}"#,
            r#"{"jwt_peer_auth_revocation":1}"#,
            r#"{"jwt_peer_auth_revocation":1,"entries":[1]}"#,
            r#"{"jwt_peer_auth_revocation":1,"entries":[{"name":"a","value":"b"}]}"#,
            r#"{"jwt_peer_auth_revocation":1,"entries":[{"name":"a b","value":"b","expires":9}]}"#,
            r#"{"jwt_peer_auth_revocation":1,"entries":[],"x":1}"#,
        ];
        for d in damaged {
            assert!(parse_state(d.as_bytes(), 0).is_err(), "{d}");
        }
    }

    #[test]
    fn list_skips_expired() {
        let entries = vec![Entry::new("jti", "a", 100), Entry::new("jti", "b", 10)];
        assert_eq!(
            render_list(&entries, 50),
            "{\"entries\":[{\"name\":\"jti\",\"value\":\"a\",\"expires\":100,\"expires_in\":50}]}\n"
        );
    }
}
