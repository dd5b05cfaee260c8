//! The status page's Prometheus view (`?format=prometheus`): the text exposition format 0.0.4.

use core::fmt::{self, Write as _};

use super::model::Snapshot;
use super::{render, Page};
use crate::Reason;

/// A label value as the text exposition format wants it: backslash, double quote and line
/// feed escaped (`\\`, `\"`, `\n`); any other control character (which the format would pass
/// through into a scraper's logs and terminals) replaced by `?`.
pub struct Label<'a>(pub &'a str);

impl fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c if c.is_control() => f.write_char('?')?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The snapshot as Prometheus metrics; `None` when memory for them ran out.
pub fn render_prometheus(snap: &Snapshot) -> Option<String> {
    render(4096 + snap.sources.len() * 1024, |p| write_prometheus(p, snap))
}

/// A metric's `# HELP` and `# TYPE` lines.
fn head(s: &mut Page, name: &str, kind: &str, help: &str) -> fmt::Result {
    writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}")
}

fn write_prometheus(s: &mut Page, snap: &Snapshot) -> fmt::Result {
    let (c, now, sources) = (&snap.counts, snap.now, &snap.sources);
    head(
        s,
        "jwt_peer_auth_requests_total",
        "counter",
        "Requests checked by jwt_peer_auth, by result.",
    )?;
    writeln!(s, "jwt_peer_auth_requests_total{{result=\"ok\"}} {}", c.verified)?;
    for (i, r) in Reason::ALL.iter().enumerate() {
        writeln!(
            s,
            "jwt_peer_auth_requests_total{{result=\"{}\"}} {}",
            r.word(),
            c.rejected[i]
        )?;
    }
    writeln!(
        s,
        "jwt_peer_auth_requests_total{{result=\"forbidden\"}} {}",
        c.forbidden
    )?;
    head(
        s,
        "jwt_peer_auth_unenforced_total",
        "counter",
        "Refusals (also counted by result) that shadow or optional did not enforce: the request went on.",
    )?;
    writeln!(s, "jwt_peer_auth_unenforced_total {}", c.unenforced)?;
    head(
        s,
        "jwt_peer_auth_token_cache_total",
        "counter",
        "Verified-token cache lookups, by result.",
    )?;
    writeln!(
        s,
        "jwt_peer_auth_token_cache_total{{result=\"hit\"}} {}",
        c.cache_hits
    )?;
    writeln!(
        s,
        "jwt_peer_auth_token_cache_total{{result=\"miss\"}} {}",
        c.cache_misses
    )?;
    head(
        s,
        "jwt_peer_auth_refusal_cache_hits_total",
        "counter",
        "Refusals answered from the refusal cache (also counted by reason).",
    )?;
    writeln!(
        s,
        "jwt_peer_auth_refusal_cache_hits_total {}",
        c.refusal_cache_hits
    )?;
    head(
        s,
        "jwt_peer_auth_key_fetches_total",
        "counter",
        "Key requests, by key source and result.",
    )?;
    for src in sources {
        let u = Label(&src.uri);
        writeln!(
            s,
            "jwt_peer_auth_key_fetches_total{{source=\"{u}\",result=\"ok\"}} {}",
            src.fetches_ok
        )?;
        writeln!(
            s,
            "jwt_peer_auth_key_fetches_total{{source=\"{u}\",result=\"failed\"}} {}",
            src.fetches_failed
        )?;
    }
    head(
        s,
        "jwt_peer_auth_unknown_kid_total",
        "counter",
        "Requests with a kid the keys lack: waited for a refetch, or refused at once (absent at the last refetch; too many waiting).",
    )?;
    for src in sources {
        let u = Label(&src.uri);
        for (what, n) in [
            ("waited", src.kid_waits),
            ("refused_absent", src.kid_absent),
            ("refused_busy", src.kid_full),
        ] {
            writeln!(
                s,
                "jwt_peer_auth_unknown_kid_total{{source=\"{u}\",result=\"{what}\"}} {n}"
            )?;
        }
    }
    head(
        s,
        "jwt_peer_auth_absent_kids",
        "gauge",
        "Kids remembered absent from the published key set.",
    )?;
    for src in sources {
        writeln!(
            s,
            "jwt_peer_auth_absent_kids{{source=\"{}\"}} {}",
            Label(&src.uri),
            src.absent_kids
        )?;
    }
    head(
        s,
        "jwt_peer_auth_key_generation",
        "gauge",
        "Generation of the published key set.",
    )?;
    for src in sources {
        writeln!(
            s,
            "jwt_peer_auth_key_generation{{source=\"{}\"}} {}",
            Label(&src.uri),
            src.fetch.generation
        )?;
    }
    head(
        s,
        "jwt_peer_auth_key_age_seconds",
        "gauge",
        "Seconds since the published key set was fetched.",
    )?;
    for src in sources {
        if let Some(age) = src.age(now) {
            writeln!(
                s,
                "jwt_peer_auth_key_age_seconds{{source=\"{}\"}} {age}",
                Label(&src.uri)
            )?;
        }
    }
    head(
        s,
        "jwt_peer_auth_key_info",
        "gauge",
        "A published key, by key source and kid.",
    )?;
    for src in sources {
        for kid in &src.kids {
            writeln!(
                s,
                "jwt_peer_auth_key_info{{source=\"{}\",kid=\"{}\"}} 1",
                Label(&src.uri),
                Label(kid)
            )?;
        }
    }
    if let Some(rev) = &snap.revocation {
        head(
            s,
            "jwt_peer_auth_revocation_entries",
            "gauge",
            "Entries on the revocation list.",
        )?;
        writeln!(
            s,
            "jwt_peer_auth_revocation_entries{{zone=\"{}\"}} {}",
            Label(&rev.zone),
            rev.entries.len()
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::fixtures::*;
    use crate::status::{Counts, Revocations};

    #[test]
    fn label_values_escaped_per_the_exposition_format() {
        let l = |s: &str| Label(s).to_string();
        assert_eq!(l("plain /k?x=1"), "plain /k?x=1");
        assert_eq!(l("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(l("\r\t\u{0}\u{1b}[31m\u{7f}\u{85}"), "????[31m??");
        assert_eq!(l("é 日本"), "é 日本");
    }

    /// Every sample line: a name, optionally `{label="value",...}` with only escaped values,
    /// and a number; every other line a `# HELP` or `# TYPE` comment.
    fn well_formed(text: &str) {
        for line in text.lines() {
            if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect(line);
            assert!(value.parse::<f64>().is_ok(), "{line}");
            let Some((name, labels)) = series.split_once('{') else {
                assert!(series.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
                continue;
            };
            assert!(
                name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "{line}"
            );
            let mut rest = labels.strip_suffix('}').expect(line);
            while !rest.is_empty() {
                let (label, after) = rest.split_once("=\"").expect(line);
                assert!(
                    label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                    "{line}"
                );
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next().expect(line) {
                        (_, '\\') => assert!(matches!(chars.next(), Some((_, '\\' | '"' | 'n'))), "{line}"),
                        (i, '"') => break i,
                        (_, c) => assert!(!c.is_control(), "{line}"),
                    }
                };
                rest = after[end + 1..].strip_prefix(',').unwrap_or(&after[end + 1..]);
            }
        }
    }

    #[test]
    fn hostile_uri_kids_and_zone_stay_inside_their_labels() {
        let mut src = fetched("http://k/\"} 1\nfake_metric{a=\"", 10);
        src.kids = vec!["k\\\"}\n# TYPE x counter".into(), "\u{1b}]0;pwn\u{7}".into()];
        let text = render_prometheus(&Snapshot {
            now: NOW,
            sources: vec![src],
            dpop: None,
            revocation: Some(Revocations {
                zone: "z\"\n".into(),
                entries: vec![],
                feed: None,
            }),
            ..Snapshot::default()
        })
        .unwrap();
        well_formed(&text);
        assert!(!text.contains("\nfake_metric"));
        assert!(!text.contains("\n# TYPE x"));
        assert!(!text.contains('\u{1b}'));
        assert!(text.contains(
            "jwt_peer_auth_key_info{source=\"http://k/\\\"} 1\\nfake_metric{a=\\\"\",kid=\"k\\\\\\\"}\\n# TYPE x counter\"} 1\n"
        ));
        assert!(text.contains("jwt_peer_auth_revocation_entries{zone=\"z\\\"\\n\"} 0\n"));
    }

    #[test]
    fn every_metric_with_help_and_type() {
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
        let text = render_prometheus(&Snapshot {
            now: NOW,
            counts,
            sources: vec![fetched("/k", 10), source("/idle")],
            dpop: None,
            revocation: None,
        })
        .unwrap();
        well_formed(&text);
        for want in [
            "# HELP jwt_peer_auth_requests_total Requests checked by jwt_peer_auth, by result.\n\
             # TYPE jwt_peer_auth_requests_total counter\njwt_peer_auth_requests_total{result=\"ok\"} 7\n",
            "jwt_peer_auth_requests_total{result=\"expired\"} 9\n",
            "jwt_peer_auth_requests_total{result=\"forbidden\"} 2\n",
            "# TYPE jwt_peer_auth_unenforced_total counter\njwt_peer_auth_unenforced_total 4\n",
            "jwt_peer_auth_token_cache_total{result=\"hit\"} 5\njwt_peer_auth_token_cache_total{result=\"miss\"} 3\n",
            "# TYPE jwt_peer_auth_refusal_cache_hits_total counter\njwt_peer_auth_refusal_cache_hits_total 1\n",
            "jwt_peer_auth_key_fetches_total{source=\"/k\",result=\"ok\"} 1\n",
            "jwt_peer_auth_key_fetches_total{source=\"/idle\",result=\"failed\"} 0\n",
            "# TYPE jwt_peer_auth_key_generation gauge\njwt_peer_auth_key_generation{source=\"/k\"} 3\n\
             jwt_peer_auth_key_generation{source=\"/idle\"} 0\n",
            // Only a published set has an age.
            "# TYPE jwt_peer_auth_key_age_seconds gauge\njwt_peer_auth_key_age_seconds{source=\"/k\"} 10\n# HELP",
            "jwt_peer_auth_key_info{source=\"/k\",kid=\"a\"} 1\njwt_peer_auth_key_info{source=\"/k\",kid=\"b\"} 1\n",
        ] {
            assert!(text.contains(want), "{want}\nnot in\n{text}");
        }
        assert!(!text.contains("revocation"));
        assert_eq!(text.matches("# HELP ").count(), text.matches("# TYPE ").count());
    }
}
