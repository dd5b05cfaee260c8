//! Which view of the status page a request gets: `?format=`, else the `Accept` header.

/// Which view of the status page to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Prometheus,
    Html,
}

/// The view for a request: `?format=` decides when given (`prometheus`, `html`; any other
/// value is JSON, as before the HTML view existed); otherwise the `Accept` header: HTML when it
/// prefers `text/html` to JSON (a browser), else JSON (curl's `*/*`, no header, API clients).
/// The flag says whether `Accept` decided (the answer then needs `Vary: Accept`).
pub fn choose_format<'a>(
    format: Option<&[u8]>,
    accept: impl IntoIterator<Item = &'a [u8]>,
) -> (Format, bool) {
    match format {
        Some(b"prometheus") => (Format::Prometheus, false),
        Some(b"html") => (Format::Html, false),
        Some(_) => (Format::Json, false),
        None if prefers_html(accept) => (Format::Html, true),
        None => (Format::Json, true),
    }
}

/// Whether `Accept` header values prefer `text/html` to JSON: `text/html` is listed with a
/// higher quality than JSON gets (from `application/json`, else `application/*`, else `*/*`).
/// Only an explicit `text/html` counts: `*/*` alone stays JSON.
pub fn prefers_html<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> bool {
    // Quality in thousandths, per specificity: exact type, type/*, */*.
    let mut html: Option<u16> = None;
    let (mut json, mut app_any, mut any): (Option<u16>, Option<u16>, Option<u16>) = (None, None, None);
    let best = |slot: &mut Option<u16>, q: u16| *slot = Some(slot.map_or(q, |o| o.max(q)));
    // Bounded: NGINX limits the header's size; at most 64 media ranges are looked at.
    for item in values.into_iter().flat_map(|v| v.split(|&b| b == b',')).take(64) {
        let mut parts = item.split(|&b| b == b';');
        let range = trim(parts.next().unwrap_or_default());
        let mut q = 1000;
        for p in parts {
            let p = trim(p);
            if p.len() >= 2 && p[..2].eq_ignore_ascii_case(b"q=") {
                q = parse_q(&p[2..]).unwrap_or(0);
            }
        }
        let is = |t: &[u8]| range.eq_ignore_ascii_case(t);
        if is(b"text/html") {
            best(&mut html, q);
        } else if is(b"application/json") {
            best(&mut json, q);
        } else if is(b"application/*") {
            best(&mut app_any, q);
        } else if is(b"*/*") {
            best(&mut any, q);
        }
    }
    let json = json.or(app_any).or(any).unwrap_or(0);
    html.is_some_and(|h| h > 0 && h > json)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// An RFC 9110 qvalue ("0", "0.8", "1.000") in thousandths.
fn parse_q(s: &[u8]) -> Option<u16> {
    let (int, frac) = match s.iter().position(|&b| b == b'.') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[][..]),
    };
    if int.len() != 1 || frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut q = match int[0] {
        b'0' => 0u16,
        b'1' => 1000,
        _ => return None,
    };
    for (i, d) in frac.iter().enumerate() {
        q += u16::from(d - b'0') * [100, 10, 1][i];
    }
    (q <= 1000).then_some(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_by_argument_then_accept() {
        let browser: &[u8] =
            b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
        let choose = |f: Option<&[u8]>, a: &[&[u8]]| choose_format(f, a.iter().copied());
        assert_eq!(choose(None, &[browser]), (Format::Html, true));
        assert_eq!(choose(None, &[b"*/*"]), (Format::Json, true));
        assert_eq!(choose(None, &[]), (Format::Json, true));
        assert_eq!(choose(None, &[b"application/json"]), (Format::Json, true));
        assert_eq!(
            choose(None, &[b"application/json, text/html;q=0.5"]),
            (Format::Json, true)
        );
        assert_eq!(
            choose(None, &[b"text/html, application/json"]),
            (Format::Json, true)
        );
        assert_eq!(
            choose(None, &[b"text/html;q=0.9, application/*;q=0.5"]),
            (Format::Html, true)
        );
        assert_eq!(choose(None, &[b"TEXT/HTML ; Q=1"]), (Format::Html, true));
        assert_eq!(choose(None, &[b"text/html;q=0"]), (Format::Json, true));
        assert_eq!(choose(None, &[b"text/html;q=banana"]), (Format::Json, true));
        assert_eq!(choose(None, &[b"text/*"]), (Format::Json, true));
        assert_eq!(choose(None, &[b"image/png", b"text/html"]), (Format::Html, true));
        assert_eq!(choose(Some(b"json"), &[browser]), (Format::Json, false));
        assert_eq!(
            choose(Some(b"prometheus"), &[browser]),
            (Format::Prometheus, false)
        );
        assert_eq!(choose(Some(b"html"), &[b"*/*"]), (Format::Html, false));
        assert_eq!(choose(Some(b"other"), &[browser]), (Format::Json, false));
        assert_eq!(parse_q(b"0.125"), Some(125));
        assert_eq!(parse_q(b"1.000"), Some(1000));
        assert_eq!(parse_q(b"1.5"), None);
        assert_eq!(parse_q(b"0.1234"), None);
    }
}
