//! The status page's HTML view: one self-contained document, every outside text escaped.

use core::fmt::{self, Write as _};

use super::model::{Health, Severity, Snapshot, Source};
use super::{render, Page};
use crate::freshness::Freshness;
use crate::Reason;

/// Seconds between the HTML page's own reloads (`<meta http-equiv="refresh">`).
pub const HTML_REFRESH_SECONDS: u32 = 5;

/// The `Content-Security-Policy` the HTML view is sent with: nothing but its own inline style
/// (the page has no script, image, font, frame or form).
pub const HTML_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// When the next fetch of `s` can happen, in words.
struct NextAttempt<'a>(&'a Source, i64);

impl fmt::Display for NextAttempt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, now) = (self.0, self.1);
        if s.fetch.lease_id != 0 && s.fetch.fetch_in_flight(now) {
            return f.write_str("fetching now");
        }
        let at = s.fetch.next_attempt.max(s.fetch.lease_until);
        if at > now {
            return write!(f, "in {}", Dur(at - now));
        }
        match s.health(now) {
            Health::Fresh => write!(
                f,
                "refresh due in {}",
                Dur(s
                    .fetch
                    .fetched_at
                    .saturating_add(i64::try_from(s.settings().valid).unwrap_or(i64::MAX))
                    - now)
            ),
            _ if s.never_fetched() => f.write_str("at the first request that needs keys"),
            _ => f.write_str("at the next request"),
        }
    }
}

/// Text for HTML content and attribute values: `&`, `<`, `>`, `"` and `'` escaped.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// A duration in seconds, short: "45s", "4m05s", "2h13m", "3d04h".
pub struct Dur(pub i64);

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.max(0);
        match s {
            0..=59 => write!(f, "{s}s"),
            60..=3599 => write!(f, "{}m{:02}s", s / 60, s % 60),
            3600..=86_399 => write!(f, "{}h{:02}m", s / 3600, s % 3600 / 60),
            _ => write!(f, "{}d{:02}h", s / 86_400, s % 86_400 / 3600),
        }
    }
}

/// Unix seconds as "2025-06-01 12:00:00 UTC".
struct Utc(i64);

impl fmt::Display for Utc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (days, secs) = (self.0.div_euclid(86_400), self.0.rem_euclid(86_400));
        // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        write!(
            f,
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

/// Per mille as "97.3 %".
struct Permille(u64, u64);

impl fmt::Display for Permille {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (part, total) = (self.0, self.1);
        if total == 0 {
            return f.write_str("–");
        }
        let pm = (u128::from(part) * 1000 + u128::from(total) / 2) / u128::from(total);
        write!(f, "{}.{} %", pm / 10, pm % 10)
    }
}

/// A part of the page, written from the snapshot.
type Section = fn(&mut Page, &Snapshot) -> fmt::Result;

/// The page's sections, top to bottom. Another section (for example a revocation list) is one
/// more function of type [`Section`] in this list, reading what it shows from the [`Snapshot`].
const SECTIONS: &[Section] = &[
    summary_section,
    key_sources_section,
    token_cache_section,
    requests_section,
    revocation_section,
    dpop_section,
];

/// The DPoP replay cache (where a location uses DPoP): its fill and refusals.
fn dpop_section(p: &mut Page, s: &Snapshot) -> fmt::Result {
    let Some(d) = &s.dpop else {
        return Ok(());
    };
    write!(
        p,
        "<section id=\"dpop\">\n<h2>DPoP replay cache</h2>\n<p id=\"dpop-fill\">{} of {} slots used; \
         {} proofs remembered, {} replays refused, {} refused while full ({} episodes).</p>\n</section>\n",
        d.used, d.capacity, d.stored, d.replays, d.full, d.full_episodes
    )
}

/// The page lists at most this many revocation entries (the API lists all).
const PAGE_REVOCATIONS: usize = 200;

/// The revocation list (where configured): name, value, time left.
fn revocation_section(p: &mut Page, s: &Snapshot) -> fmt::Result {
    let Some(rev) = &s.revocation else {
        return Ok(());
    };
    let n = rev.entries.len();
    writeln!(
        p,
        "<section id=\"revocation\">\n<h2>Revocation list <span class=\"tag\">zone {}</span></h2>",
        Esc(&rev.zone)
    )?;
    if let Some(f) = &rev.feed {
        writeln!(
            p,
            "<p id=\"revocation-feed\">Feed <code>{}</code>: <b>{}</b>, {} entries{}; answers: {} applied, {} not modified, {} failed{}.</p>",
            Esc(&f.uri),
            Esc(&f.state),
            f.entries,
            f.age.map_or(String::new(), |a| format!(", last success {a}s ago")),
            f.fetched,
            f.not_modified,
            f.failures,
            f.error.as_deref().map_or(String::new(), |e| format!("; last error: {}", Esc(e)))
        )?;
    }
    if n == 0 {
        return p.write_str(
            "<p class=\"dim\" id=\"revocation-count\">No entries: nothing is revoked.</p>\n</section>\n",
        );
    }
    writeln!(
        p,
        "<p class=\"dim\" id=\"revocation-count\">{n} {}.</p>\n<table class=\"wide\">\n<thead><tr><th>Name</th><th>Value</th>\
         <th class=\"num\">Expires in</th></tr></thead>\n<tbody>",
        if n == 1 { "entry" } else { "entries" }
    )?;
    for e in rev.entries.iter().take(PAGE_REVOCATIONS) {
        writeln!(
            p,
            "<tr class=\"revoked\"><td><code>{}</code></td><td><code>{}</code></td><td class=\"num\">{}</td></tr>",
            Esc(&e.name),
            Esc(&e.value),
            Dur(e.expires - s.now)
        )?;
    }
    p.write_str("</tbody>\n</table>\n")?;
    if n > PAGE_REVOCATIONS {
        writeln!(
            p,
            "<p class=\"dim\">and {} more (the revocation API lists all).</p>",
            n - PAGE_REVOCATIONS
        )?;
    }
    p.write_str("</section>\n")
}

const STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,\"DejaVu Sans\",sans-serif;margin:24px 32px;color:#1f2328;background:#fff}\
h1{font-size:22px;margin:0 0 2px}\
h2{font-size:16px;margin:28px 0 8px}\
.meta{color:#59636e;margin:0 0 16px}\
.meta a{color:#0969da}\
.banner{border:1px solid;border-radius:6px;padding:10px 14px}\
.banner p{margin:0;font-weight:600;font-size:15px}\
.banner ul{margin:6px 0 0;padding-left:20px}\
.banner li{margin:2px 0}\
.ok{background:#dafbe1;border-color:#4ac26b;color:#116329}\
.info{background:#ddf4ff;border-color:#54aeff;color:#0a3069}\
.warn{background:#fff8c5;border-color:#d4a72c;color:#6c4400}\
.bad{background:#ffebe9;border-color:#ff8182;color:#82071e}\
table{border-collapse:collapse;margin:0}\
table.wide{width:100%}\
th,td{border-bottom:1px solid #d1d9e0;padding:6px 12px;text-align:left;vertical-align:top}\
th{background:#f6f8fa;font-weight:600;white-space:nowrap}\
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
tr.zero td{color:#8c959f}\
tr.total td{font-weight:600;border-top:2px solid #d1d9e0}\
code{font:12px/1.6 ui-monospace,SFMono-Regular,Menlo,Consolas,\"DejaVu Sans Mono\",monospace;background:#eff2f5;padding:1px 5px;border-radius:4px;overflow-wrap:break-word}\
.kid{display:inline-block;margin:0 4px 3px 0}\
.state{display:inline-block;padding:1px 9px;border-radius:10px;font-weight:600;font-size:12px;border:1px solid}\
.s-fresh{background:#dafbe1;color:#116329;border-color:#4ac26b}\
.s-stale{background:#fff8c5;color:#6c4400;border-color:#d4a72c}\
.s-failing{background:#fff1e5;color:#953800;border-color:#fb8f44}\
.s-none{background:#ffebe9;color:#82071e;border-color:#ff8182}\
.s-idle{background:#f6f8fa;color:#59636e;border-color:#d1d9e0}\
.dim{color:#59636e}\
.tag{font-size:11px;color:#59636e;border:1px solid #d1d9e0;border-radius:4px;padding:0 4px;margin-left:6px}\
footer{margin-top:28px;color:#59636e;font-size:12px}";

/// The status page as one self-contained HTML document (no script, no external resource; it
/// reloads itself every [`HTML_REFRESH_SECONDS`]). Every text from a key service, a token or
/// the configuration is escaped. `None` when memory for it could not be reserved.
pub fn render_html(s: &Snapshot) -> Option<String> {
    render(16 * 1024 + s.sources.len() * 2048, |p| write_page(p, s))
}

fn write_page(p: &mut Page, s: &Snapshot) -> fmt::Result {
    writeln!(
        p,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"refresh\" content=\"{HTML_REFRESH_SECONDS}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>jwt_peer_auth status</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>jwt_peer_auth status</h1>\n\
         <p class=\"meta\">Read at <span id=\"now\">{}</span>; this page reloads every {HTML_REFRESH_SECONDS} s. \
         Also as <a href=\"?format=json\">JSON</a> and <a href=\"?format=prometheus\">Prometheus</a>.</p>",
        Utc(s.now)
    )?;
    for section in SECTIONS {
        section(p, s)?;
    }
    p.write_str(
        "<footer>Counters are totals of all workers since the shared zone was created (kept across reloads). \
         A key source is judged by the shortest <code>jwt_peer_auth_key_cache</code> of the locations that use it.\
         </footer>\n</body>\n</html>\n",
    )
}

/// What is wrong with a live source, in one line (without its name).
fn problem(p: &mut Page, src: &Source, now: i64) -> fmt::Result {
    let failures = src.fetch.failures;
    let last = |p: &mut Page| -> fmt::Result {
        if src.last_result.is_empty() {
            return p.write_str("no fetch ended yet");
        }
        write!(p, "{}", Esc(&src.last_result))?;
        if let Some(ago) = src.last_result_age(now) {
            write!(p, " ({} ago", Dur(ago))?;
            if failures > 1 {
                write!(p, ", {failures} failures in a row")?;
            }
            p.write_str(")")?;
        }
        Ok(())
    };
    match src.health(now) {
        Health::Fresh => p.write_str("fresh"),
        Health::Stale => {
            write!(
                p,
                "keys stale for {} (fetched {} ago); last fetch: ",
                Dur(src.stale_for(now)),
                Dur(src.age(now).unwrap_or(0))
            )?;
            last(p)?;
            write!(p, "; next fetch {}", NextAttempt(src, now))
        }
        Health::Failing => {
            if src.fetch.freshness(&src.settings(), now) == Freshness::Stale {
                write!(p, "keys stale for {}; last fetch: ", Dur(src.stale_for(now)))?;
                last(p)?;
            } else {
                p.write_str("last fetch failed: ")?;
                last(p)?;
                write!(
                    p,
                    "; keys still fresh (fetched {} ago)",
                    Dur(src.age(now).unwrap_or(0))
                )?;
            }
            write!(p, "; next attempt {}", NextAttempt(src, now))
        }
        Health::None if src.never_fetched() => {
            write!(
                p,
                "no keys yet: not fetched; next fetch {}",
                NextAttempt(src, now)
            )
        }
        Health::None => {
            if let Some(age) = src.age(now) {
                write!(
                    p,
                    "no usable keys: fetched {} ago, past the stale limit; last fetch: ",
                    Dur(age)
                )?;
                last(p)?;
            } else if failures > 0 {
                p.write_str("no keys: last fetch failed: ")?;
                last(p)?;
            } else {
                p.write_str("no keys yet; last fetch: ")?;
                last(p)?;
            }
            write!(p, "; next attempt {}", NextAttempt(src, now))
        }
    }
}

fn summary_section(p: &mut Page, s: &Snapshot) -> fmt::Result {
    let now = s.now;
    let live = || s.sources.iter().filter(|src| src.live);
    let worst = live()
        .map(|src| src.severity(now))
        .max()
        .unwrap_or(Severity::Fine);
    write!(
        p,
        "<section id=\"summary\" class=\"banner {}\">\n<p>",
        worst.class()
    )?;
    match worst {
        Severity::Bad => p.write_str("Something is wrong with the keys:")?,
        Severity::Warn => p.write_str("Keys need attention:")?,
        Severity::Note => p.write_str("No problems; not every key source has keys yet:")?,
        Severity::Fine if live().next().is_none() => {
            p.write_str("No fetched key sources (keys from files only)")?
        }
        Severity::Fine => p.write_str("All key sources fresh")?,
    }
    p.write_str("</p>\n")?;
    if worst > Severity::Fine {
        p.write_str("<ul>\n")?;
        // Worst first.
        for level in [Severity::Bad, Severity::Warn, Severity::Note] {
            for src in live().filter(|src| src.severity(now) == level) {
                write!(p, "<li><code>{}</code>: ", Esc(&src.uri))?;
                problem(p, src, now)?;
                p.write_str("</li>\n")?;
            }
        }
        p.write_str("</ul>\n")?;
    }
    p.write_str("</section>\n")
}

fn key_sources_section(p: &mut Page, s: &Snapshot) -> fmt::Result {
    let now = s.now;
    p.write_str(
        "<section id=\"key-sources\">\n<h2>Key sources</h2>\n<table class=\"wide\">\n<thead><tr><th>Key source</th>\
         <th>State</th><th class=\"num\">Age</th><th class=\"num\">Generation</th><th>Last fetch</th>\
         <th>Next fetch</th><th class=\"num\">Fetches ok / failed</th><th>Key ids</th></tr></thead>\n<tbody>\n",
    )?;
    if s.sources.is_empty() {
        p.write_str("<tr><td colspan=\"8\" class=\"dim\">No key source fetches keys (jwt_peer_auth_key_request is not used).</td></tr>\n")?;
    }
    for src in &s.sources {
        let health = src.health(now);
        let class = if health == Health::None && src.never_fetched() {
            "idle"
        } else {
            health.word()
        };
        write!(
            p,
            "<tr class=\"source\" data-state=\"{}\"><td><code class=\"uri\">{}</code>",
            health.word(),
            Esc(&src.uri)
        )?;
        if !src.live {
            p.write_str("<span class=\"tag\">retired by a reload</span>")?;
        }
        write!(
            p,
            "</td><td><span class=\"state s-{class}\">{}</span>",
            health.word()
        )?;
        if health == Health::Stale || (health == Health::Failing && src.stale_for(now) > 0) {
            write!(
                p,
                "<br><span class=\"dim\">for {}</span>",
                Dur(src.stale_for(now))
            )?;
        }
        p.write_str("</td><td class=\"num\">")?;
        match src.age(now) {
            Some(age) => write!(p, "{}", Dur(age))?,
            None => p.write_str("–")?,
        }
        p.write_str("</td><td class=\"num\">")?;
        if src.published() {
            write!(p, "{}", src.fetch.generation)?;
        } else {
            p.write_str("–")?;
        }
        p.write_str("</td><td class=\"last\">")?;
        if src.last_result.is_empty() {
            p.write_str("<span class=\"dim\">never</span>")?;
        } else {
            write!(p, "{}", Esc(&src.last_result))?;
            if let Some(ago) = src.last_result_age(now) {
                write!(p, " <span class=\"dim\">{} ago</span>", Dur(ago))?;
            }
            if src.fetch.failures > 0 {
                let f = src.fetch.failures;
                write!(
                    p,
                    "<br><span class=\"dim\">{f} failure{} in a row</span>",
                    if f == 1 { "" } else { "s" }
                )?;
            }
        }
        if let Some(d) = &src.discovery {
            if !d.jwks_uri.is_empty() {
                write!(p, "<br>jwks_uri <code>{}</code>", Esc(&d.jwks_uri))?;
            }
            if !d.last_error.is_empty() {
                write!(p, "<br>last discovery error: {}", Esc(&d.last_error))?;
                if d.last_error_at > 0 {
                    write!(
                        p,
                        " <span class=\"dim\">{} ago</span>",
                        Dur(now - d.last_error_at)
                    )?;
                }
            }
        }
        write!(
            p,
            "</td><td>{}</td><td class=\"num\">{} / {}",
            NextAttempt(src, now),
            src.fetches_ok,
            src.fetches_failed
        )?;
        if src.kid_waits + src.kid_absent + src.kid_full + src.absent_kids > 0 {
            write!(
                p,
                "<br><span class=\"dim\">unknown kids: {} waited, {} refused at once, {} known absent</span>",
                src.kid_waits,
                src.kid_absent + src.kid_full,
                src.absent_kids
            )?;
        }
        p.write_str("</td><td>")?;
        if src.kids.is_empty() {
            p.write_str("<span class=\"dim\">–</span>")?;
        }
        for kid in &src.kids {
            write!(p, "<code class=\"kid\">{}</code>", Esc(kid))?;
        }
        p.write_str("</td></tr>\n")?;
    }
    p.write_str("</tbody>\n</table>\n</section>\n")
}

fn requests_section(p: &mut Page, s: &Snapshot) -> fmt::Result {
    let c = &s.counts;
    let rows = core::iter::once(("ok", c.verified, "verified"))
        .chain(
            Reason::ALL
                .iter()
                .zip(c.rejected)
                .map(|(r, n)| (r.word(), n, "refused (401/400/500)")),
        )
        .chain(core::iter::once((
            "forbidden",
            c.forbidden,
            "refused by jwt_peer_auth_require (403)",
        )));
    let total = rows.clone().fold(0u64, |t, (_, n, _)| t.saturating_add(n));
    p.write_str(
        "<section id=\"requests\">\n<h2>Requests by result</h2>\n<table>\n<thead><tr><th>Result</th>\
         <th class=\"num\">Requests</th><th class=\"num\">Share</th></tr></thead>\n<tbody>\n",
    )?;
    for (word, n, title) in rows {
        writeln!(
            p,
            "<tr id=\"req-{word}\"{} title=\"{title}\"><td><code>{word}</code></td><td class=\"num count\">{n}</td>\
             <td class=\"num\">{}</td></tr>",
            if n == 0 { " class=\"zero\"" } else { "" },
            Permille(n, total)
        )?;
    }
    writeln!(
        p,
        "<tr class=\"total\"><td>all</td><td class=\"num\" id=\"req-total\">{total}</td><td></td></tr>\n\
         </tbody>\n</table>"
    )?;
    if c.unenforced > 0 {
        writeln!(
            p,
            "<p id=\"req-unenforced\">Not enforced (<code>shadow</code>, or <code>optional</code> without a \
             token): <span class=\"count\">{}</span> of the refusals above; those requests went on.</p>",
            c.unenforced
        )?;
    }
    p.write_str("</section>\n")
}

fn token_cache_section(p: &mut Page, s: &Snapshot) -> fmt::Result {
    let (hits, misses) = (s.counts.cache_hits, s.counts.cache_misses);
    let lookups = hits.saturating_add(misses);
    writeln!(
        p,
        "<section id=\"token-cache\">\n<h2>Token cache</h2>\n<table>\n<thead><tr><th class=\"num\">Hits</th>\
         <th class=\"num\">Misses</th><th class=\"num\">Hit rate</th></tr></thead>\n<tbody>\n\
         <tr><td class=\"num\" id=\"cache-hits\">{hits}</td><td class=\"num\" id=\"cache-misses\">{misses}</td>\
         <td class=\"num\" id=\"cache-hit-rate\">{}</td></tr>\n</tbody>\n</table>\n</section>",
        Permille(hits, lookups)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::fixtures::*;
    use crate::status::{Counts, Revocations};

    #[test]
    fn discovery_shown_escaped() {
        let mut d = fetched("/_oidc_jwks", 10);
        d.discovery = Some(crate::status::DiscoveryView {
            jwks_uri: "https://idp.example/<script>".into(),
            last_error: "issuer mismatch: \"<b>\"".into(),
            last_error_at: NOW - 3,
        });
        let html = page(vec![d]);
        assert!(
            html.contains("jwks_uri <code>https://idp.example/&lt;script&gt;</code>"),
            "{html}"
        );
        assert!(
            html.contains("last discovery error: issuer mismatch: &quot;&lt;b&gt;&quot;"),
            "{html}"
        );
        assert!(!html.contains("<script>") && !html.contains("<b>"));
    }

    #[test]
    fn summary_says_what_is_wrong() {
        let html = page(vec![fetched("/a", 10), fetched("/b", 20)]);
        assert!(summary(&html).contains("class=\"banner ok\""));
        assert!(summary(&html).contains("All key sources fresh"));

        let html = page(vec![
            failed(fetched("/a", 300 + 7980), 3, "status 502"),
            fetched("/b", 20),
        ]);
        let top = summary(&html);
        assert!(top.contains("class=\"banner bad\""), "{top}");
        assert!(
            top.contains("<code>/a</code>: keys stale for 2h13m; last fetch: status 502 (3s ago, 3 failures in a row); next attempt in 4s"),
            "{top}"
        );
        assert!(!top.contains("/b"), "{top}");

        let html = page(vec![failed(
            source("/a"),
            1,
            "no response from the key service (NGINX status 502)",
        )]);
        assert!(
            summary(&html).contains(
                "no keys: last fetch failed: no response from the key service (NGINX status 502) (3s ago)"
            ),
            "{html}"
        );

        let html = page(vec![fetched("/a", 400)]);
        assert!(summary(&html).contains("class=\"banner warn\""));
        assert!(summary(&html).contains("keys stale for 1m40s (fetched 6m40s ago); last fetch: 200"));

        let html = page(vec![failed(fetched("/a", 30), 1, "status 500")]);
        assert!(summary(&html)
            .contains("last fetch failed: status 500 (3s ago); keys still fresh (fetched 30s ago)"));

        let html = page(vec![fetched("/a", 300 + 86_400 + 7)]);
        assert!(summary(&html).contains("class=\"banner warn\""));
        assert!(summary(&html)
            .contains("no usable keys: fetched 1d00h ago, past the stale limit; last fetch: 200"));

        let html = page(vec![source("/a")]);
        assert!(summary(&html).contains("class=\"banner info\""));
        assert!(summary(&html).contains("no keys yet: not fetched"));

        let html = page(vec![]);
        assert!(summary(&html).contains("No fetched key sources"));
    }

    #[test]
    fn unknown_kid_waits_and_absent_kids_are_shown_only_when_there_are_some() {
        let quiet = page(vec![fetched("/a", 5)]);
        assert!(!quiet.contains("unknown kids"));
        let mut s = fetched("/a", 5);
        (s.kid_waits, s.kid_absent, s.kid_full, s.absent_kids) = (7, 2, 1, 3);
        assert!(page(vec![s]).contains("unknown kids: 7 waited, 3 refused at once, 3 known absent"));
    }

    #[test]
    fn retired_sources_are_shown_but_not_alarming() {
        let mut old = failed(source("/old"), 5, "status 502");
        old.live = false;
        old.cache = None;
        let html = page(vec![old, fetched("/new", 5)]);
        assert!(summary(&html).contains("class=\"banner ok\""));
        assert!(
            html.contains("<code class=\"uri\">/old</code><span class=\"tag\">retired by a reload</span>")
        );
    }

    #[test]
    fn everything_from_outside_is_escaped() {
        let hostile = "<script>alert(1)</script>\"'&";
        let mut s = failed(fetched(hostile, 10), 1, hostile);
        s.kids = vec![hostile.into()];
        let html = page(vec![s]);
        let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;";
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("\"'&"));
        assert!(html.contains(&format!("<code class=\"kid\">{escaped}</code>")));
        assert!(html.contains(&format!("<code class=\"uri\">{escaped}</code>")));
        assert!(html.contains(&format!("last fetch failed: {escaped} (3s ago)")));
        assert_eq!(Esc("a&b<c>d\"e'f").to_string(), "a&amp;b&lt;c&gt;d&quot;e&#39;f");
    }

    #[test]
    fn counters_and_hit_rate() {
        let mut counts = Counts {
            verified: 1843,
            forbidden: 2,
            cache_hits: 1790,
            cache_misses: 53,
            ..Counts::default()
        };
        counts.rejected[Reason::Expired.index()] = 5;
        let html = render_html(&Snapshot {
            now: NOW,
            counts,
            sources: vec![],
            dpop: None,
            revocation: None,
        })
        .unwrap();
        assert!(html.contains(
            "<tr id=\"req-ok\" title=\"verified\"><td><code>ok</code></td><td class=\"num count\">1843</td>"
        ));
        assert!(html.contains("<tr id=\"req-expired\" title=\"refused (401/400/500)\"><td><code>expired</code></td><td class=\"num count\">5</td>"));
        assert!(!html.contains("req-unenforced"), "nothing unenforced, no line");
        assert!(html.contains("<td class=\"num\" id=\"req-total\">1850</td>"));
        assert!(html.contains("<td class=\"num\" id=\"cache-hit-rate\">97.1 %</td>"));
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        assert!(html.contains("2025-06-15 15:06:40 UTC"), "{html}");
        assert!(!html.contains("<script"));
        let empty = page(vec![]);
        assert!(empty.contains("<td class=\"num\" id=\"cache-hit-rate\">–</td>"));
        counts = Counts {
            unenforced: 3,
            ..Counts::default()
        };
        counts.rejected[Reason::Missing.index()] = 3;
        let html = render_html(&Snapshot {
            now: NOW,
            counts,
            sources: vec![],
            dpop: None,
            revocation: None,
        })
        .unwrap();
        assert!(
            html.contains(
                "token): <span class=\"count\">3</span> of the refusals above; those requests went on.</p>"
            ),
            "{html}"
        );
    }

    #[test]
    fn next_attempt_in_words() {
        let now = NOW;
        assert_eq!(
            NextAttempt(&fetched("/a", 10), now).to_string(),
            "refresh due in 4m50s"
        );
        assert_eq!(
            NextAttempt(&fetched("/a", 400), now).to_string(),
            "at the next request"
        );
        assert_eq!(
            NextAttempt(&failed(source("/a"), 2, "x"), now).to_string(),
            "in 4s"
        );
        assert_eq!(
            NextAttempt(&source("/a"), now).to_string(),
            "at the first request that needs keys"
        );
        let mut inflight = fetched("/a", 400);
        inflight.fetch.lease_id = 7;
        inflight.fetch.lease_until = now + 20;
        assert_eq!(NextAttempt(&inflight, now).to_string(), "fetching now");
    }

    #[test]
    fn durations() {
        let d = |s| Dur(s).to_string();
        assert_eq!(d(-3), "0s");
        assert_eq!(d(45), "45s");
        assert_eq!(d(245), "4m05s");
        assert_eq!(d(2 * 3600 + 13 * 60 + 59), "2h13m");
        assert_eq!(d(3 * 86_400 + 4 * 3600), "3d04h");
        assert_eq!(Utc(0).to_string(), "1970-01-01 00:00:00 UTC");
        assert_eq!(Utc(951_782_400).to_string(), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn revocation_section_lists_entries_escaped() {
        let entry = |value: &str, left: i64| crate::revocation::Entry::new("identifier", value, NOW + left);
        let snap = |entries| Snapshot {
            now: NOW,
            dpop: None,
            revocation: Some(Revocations {
                zone: "rev<1>".into(),
                entries,
                feed: None,
            }),
            ..Snapshot::default()
        };
        let html = render_html(&snap(vec![
            entry("peer-a", 3600),
            entry("<script>x</script>", 90),
        ]))
        .unwrap();
        assert!(html.contains("zone rev&lt;1&gt;"), "{html}");
        assert!(html.contains("<p class=\"dim\" id=\"revocation-count\">2 entries.</p>"));
        assert!(html.contains("<code>peer-a</code>"));
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;") && !html.contains("<script>"));
        let empty = render_html(&snap(vec![])).unwrap();
        assert!(empty.contains("No entries: nothing is revoked."));
        let many: Vec<_> = (0..PAGE_REVOCATIONS + 5)
            .map(|i| entry(&format!("p{i}"), 60))
            .collect();
        assert!(render_html(&snap(many)).unwrap().contains("and 5 more"));
        assert!(!render_html(&Snapshot::default())
            .unwrap()
            .contains("id=\"revocation\""));
    }
}
