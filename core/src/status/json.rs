//! The status page's JSON view (the default for API clients).

use core::fmt::{self, Write as _};

use super::model::Snapshot;
use super::{render, Page};
use crate::Reason;

/// A JSON string literal (RFC 8259 §7): quote and backslash escaped, every control character
/// below U+0020 as `\u00XX`; everything else as it is (the text is UTF-8 already).
pub struct JsonStr<'a>(pub &'a str);

impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        let mut rest = self.0;
        while let Some(i) = rest.find(|c: char| c == '"' || c == '\\' || (c as u32) < 0x20) {
            f.write_str(&rest[..i])?;
            match rest.as_bytes()[i] {
                b'"' => f.write_str("\\\"")?,
                b'\\' => f.write_str("\\\\")?,
                b => write!(f, "\\u{:04x}", b)?,
            }
            rest = &rest[i + 1..];
        }
        f.write_str(rest)?;
        f.write_char('"')
    }
}

/// A number, or `null` for none.
struct OrNull(Option<i64>);

impl fmt::Display for OrNull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("null"),
        }
    }
}

/// The snapshot as one JSON object and a newline; `None` when memory for it ran out.
pub fn render_json(snap: &Snapshot) -> Option<String> {
    render(1024 + snap.sources.len() * 512, |p| write_json(p, snap))
}

fn write_json(s: &mut Page, snap: &Snapshot) -> fmt::Result {
    let (c, now) = (&snap.counts, snap.now);
    write!(s, "{{\"requests\":{{\"ok\":{}", c.verified)?;
    for (i, r) in Reason::ALL.iter().enumerate() {
        write!(s, ",\"{}\":{}", r.word(), c.rejected[i])?;
    }
    write!(
        s,
        ",\"forbidden\":{}}},\"unenforced\":{},\"token_cache\":{{\"hits\":{},\"misses\":{}}},\"refusal_cache\":{{\"hits\":{}}},\"key_sources\":[",
        c.forbidden, c.unenforced, c.cache_hits, c.cache_misses, c.refusal_cache_hits
    )?;
    for (i, src) in snap.sources.iter().enumerate() {
        if i > 0 {
            s.write_char(',')?;
        }
        write!(
            s,
            "{{\"uri\":{},\"live\":{},\"state\":\"{}\",\"generation\":{},\"age_seconds\":{},\"consecutive_failures\":{},\
             \"fetches\":{{\"ok\":{},\"failed\":{}}},\"unknown_kid\":{{\"waited\":{},\"refused_absent\":{},\"refused_busy\":{}}},\
             \"absent_kids\":{},\"last_result\":{},\"last_result_age_seconds\":{},\"next_attempt_in\":{},\"kids\":[",
            JsonStr(&src.uri),
            src.live,
            if src.published() { "published" } else { "no_keys" },
            src.fetch.generation,
            OrNull(src.age(now)),
            src.fetch.failures,
            src.fetches_ok,
            src.fetches_failed,
            src.kid_waits,
            src.kid_absent,
            src.kid_full,
            src.absent_kids,
            JsonStr(&src.last_result),
            OrNull(src.last_result_age(now)),
            src.next_attempt_in(now),
        )?;
        for (k, kid) in src.kids.iter().enumerate() {
            if k > 0 {
                s.write_char(',')?;
            }
            write!(s, "{}", JsonStr(kid))?;
        }
        s.write_char(']')?;
        if let Some(d) = &src.discovery {
            write!(
                s,
                ",\"discovery\":{{\"jwks_uri\":{},\"last_error\":{},\"last_error_age_seconds\":{}}}",
                JsonStr(&d.jwks_uri),
                JsonStr(&d.last_error),
                OrNull((d.last_error_at > 0).then(|| now - d.last_error_at)),
            )?;
        }
        s.write_char('}')?;
    }
    s.write_char(']')?;
    if let Some(rev) = &snap.revocation {
        write!(
            s,
            ",\"revocation\":{{\"zone\":{},\"entries\":{}",
            JsonStr(&rev.zone),
            rev.entries.len()
        )?;
        if let Some(f) = &rev.feed {
            write!(
                s,
                ",\"feed\":{{\"uri\":{},\"state\":{},\"age\":{},\"entries\":{},\"fetched\":{},\"not_modified\":{},\"failures\":{},\"error\":{}}}",
                JsonStr(&f.uri),
                JsonStr(&f.state),
                f.age.map_or("null".to_owned(), |a| a.to_string()),
                f.entries,
                f.fetched,
                f.not_modified,
                f.failures,
                f.error.as_deref().map_or("null".to_owned(), |e| JsonStr(e).to_string()),
            )?;
        }
        s.write_char('}')?;
    }
    if let Some(d) = &snap.dpop {
        write!(
            s,
            ",\"dpop\":{{\"capacity\":{},\"used\":{},\"stored\":{},\"replays\":{},\"full\":{},\"full_episodes\":{}}}",
            d.capacity, d.used, d.stored, d.replays, d.full, d.full_episodes
        )?;
    }
    s.write_str("}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::fixtures::*;
    use crate::status::{Counts, Revocations};

    #[test]
    fn strings_escaped_per_rfc_8259() {
        let j = |s: &str| JsonStr(s).to_string();
        assert_eq!(j(""), "\"\"");
        assert_eq!(j("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(j("\n\r\t\u{0}\u{1f}"), "\"\\u000a\\u000d\\u0009\\u0000\\u001f\"");
        // Not control characters below U+0020: as they are (valid in a JSON string).
        assert_eq!(
            j("\u{7f} é \u{2028} </script>"),
            "\"\u{7f} é \u{2028} </script>\""
        );
        // Every result parses back to the same text.
        for s in ["\u{0}x\"\\\u{1b}[31m", "kid\n\"}],\"live\":false", "日本\u{8}"] {
            let back: String = serde_json::from_str(&j(s)).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn discovery_member_only_for_discovery_sources() {
        let mut d = fetched("/_oidc_jwks (discovery /_oidc)", 10);
        d.discovery = Some(crate::status::DiscoveryView {
            jwks_uri: "https://idp.example/jwks\"x".into(),
            last_error: "discovery document refused: issuer mismatch".into(),
            last_error_at: NOW - 7,
        });
        let snap = Snapshot {
            now: NOW,
            sources: vec![d, fetched("/_jwks", 10)],
            ..Snapshot::default()
        };
        let v: serde_json::Value = serde_json::from_str(&render_json(&snap).unwrap()).unwrap();
        let d = &v["key_sources"][0]["discovery"];
        assert_eq!(d["jwks_uri"], "https://idp.example/jwks\"x");
        assert_eq!(d["last_error"], "discovery document refused: issuer mismatch");
        assert_eq!(d["last_error_age_seconds"], 7);
        assert!(v["key_sources"][1].get("discovery").is_none());
    }

    #[test]
    fn hostile_uri_kids_and_results_stay_strings() {
        let mut src = fetched("http://k/\"},{\"uri\":\"x\n", 10);
        src.kids = vec!["a\"b".into(), "\\".into(), "\u{1}".into()];
        src.last_result = "status 502\r\n\"".into();
        let snap = Snapshot {
            now: NOW,
            sources: vec![src.clone(), source("/k2")],
            dpop: None,
            revocation: Some(Revocations {
                zone: "rev\"z".into(),
                entries: vec![],
                feed: None,
            }),
            ..Snapshot::default()
        };
        let out = render_json(&snap).unwrap();
        assert!(out.ends_with("}\n"));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let s0 = &v["key_sources"][0];
        assert_eq!(s0["uri"], src.uri.as_str());
        assert_eq!(s0["kids"], serde_json::json!(["a\"b", "\\", "\u{1}"]));
        assert_eq!(s0["last_result"], src.last_result.as_str());
        assert_eq!(v["key_sources"].as_array().unwrap().len(), 2);
        assert_eq!(v["revocation"]["zone"], "rev\"z");
    }

    #[test]
    fn every_counter_and_source_field_in_order() {
        let mut counts = Counts {
            verified: 7,
            forbidden: 2,
            cache_hits: 5,
            cache_misses: 3,
            refusal_cache_hits: 1,
            unenforced: 4,
            ..Counts::default()
        };
        counts.rejected[Reason::Expired.index()] = 9;
        let mut src = failed(fetched("/k", 10), 2, "status 502");
        src.live = false;
        (src.kid_waits, src.kid_absent, src.kid_full, src.absent_kids) = (11, 12, 13, 14);
        let out = render_json(&Snapshot {
            now: NOW,
            counts,
            sources: vec![src, source("/idle")],
            dpop: None,
            revocation: None,
        })
        .unwrap();
        let mut want = String::from("{\"requests\":{\"ok\":7");
        for r in Reason::ALL {
            want += &format!(",\"{}\":{}", r.word(), if r == Reason::Expired { 9 } else { 0 });
        }
        want += ",\"forbidden\":2},\"unenforced\":4,\"token_cache\":{\"hits\":5,\"misses\":3},\
                 \"refusal_cache\":{\"hits\":1},\"key_sources\":[\
                 {\"uri\":\"/k\",\"live\":false,\"state\":\"published\",\"generation\":3,\"age_seconds\":10,\
                 \"consecutive_failures\":2,\"fetches\":{\"ok\":1,\"failed\":2},\
                 \"unknown_kid\":{\"waited\":11,\"refused_absent\":12,\"refused_busy\":13},\"absent_kids\":14,\
                 \"last_result\":\"status 502\",\
                 \"last_result_age_seconds\":3,\"next_attempt_in\":4,\"kids\":[\"a\",\"b\"]},\
                 {\"uri\":\"/idle\",\"live\":true,\"state\":\"no_keys\",\"generation\":0,\"age_seconds\":null,\
                 \"consecutive_failures\":0,\"fetches\":{\"ok\":0,\"failed\":0},\
                 \"unknown_kid\":{\"waited\":0,\"refused_absent\":0,\"refused_busy\":0},\"absent_kids\":0,\
                 \"last_result\":\"\",\
                 \"last_result_age_seconds\":null,\"next_attempt_in\":0,\"kids\":[]}]}\n";
        assert_eq!(out, want);
    }
}
