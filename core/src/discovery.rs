//! OpenID Connect discovery (OpenID Connect Discovery 1.0): the provider's configuration
//! document names the URL of its key set (`jwks_uri`). A document is only believed for the
//! issuer it was configured for:
//!
//! - it is a bounded, strict JSON object (duplicate member names refused at every depth, as
//!   for a JWKS);
//! - its `issuer` equals the configured issuer exactly (section 4.3): a document naming another
//!   issuer is an IdP mix-up and yields no keys;
//! - its `jwks_uri` is an absolute URL without userinfo or fragment, whose scheme is `https`
//!   (or the configured issuer's own scheme, for a test provider on `http://127.0.0.1`), on
//!   the issuer's own origin or one listed in `jwks_origins=`. An origin is the scheme, the
//!   lowercase host and the port (the scheme's default when none is given).
//!
//! The URL check is deliberately narrower than RFC 3986: only printable ASCII without spaces,
//! quotes, backslashes or angle brackets, valid percent-escapes, a host of letters, digits,
//! `-` and `.` (or an IPv6 literal): the URL goes into NGINX's `proxy_pass`, and anything two
//! URL parsers might read differently is refused rather than interpreted.

use std::fmt;

use serde_json::Value;

use crate::json;
use crate::jwk::printable;

/// Largest discovery document accepted. Real ones are a few kilobytes (Google's about 1.3 KB,
/// large enterprise providers under 8 KB).
pub const MAX_DOCUMENT: usize = 64 * 1024;
/// Longest `jwks_uri` accepted.
pub const MAX_URL: usize = 2048;
/// Most origins in `jwks_origins=`.
pub const MAX_ORIGINS: usize = 8;

/// The origin of a URL: scheme and host lowercase, the port explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    Empty,
    TooLong(usize),
    /// A byte outside the accepted set (control, space, non-ASCII, `"`, `\`, `<`, `>`, ...).
    BadCharacter(u8),
    BadPercentEscape,
    /// No `scheme://`: a relative reference.
    NotAbsolute,
    /// A scheme other than `http` or `https`.
    Scheme(String),
    Userinfo,
    Fragment,
    /// No host, or a host with characters outside letters, digits, `-` and `.`.
    BadHost,
    BadPort,
    /// A query right after the authority, without a path: NGINX's URL parser reads it as part
    /// of an IPv6 literal's port.
    QueryWithoutPath,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Empty => f.write_str("empty"),
            UrlError::TooLong(n) => write!(f, "{n} bytes, longer than {MAX_URL}"),
            UrlError::BadCharacter(b) => write!(f, "character 0x{b:02x} not allowed"),
            UrlError::BadPercentEscape => f.write_str("invalid percent-escape"),
            UrlError::NotAbsolute => f.write_str("not an absolute URL (no \"scheme://\")"),
            UrlError::Scheme(s) => write!(f, "scheme \"{}\" is not http or https", printable(s, 16)),
            UrlError::Userinfo => f.write_str("userinfo (\"user@\") not allowed"),
            UrlError::Fragment => f.write_str("fragment (\"#\") not allowed"),
            UrlError::BadHost => f.write_str("invalid host"),
            UrlError::BadPort => f.write_str("invalid port"),
            UrlError::QueryWithoutPath => f.write_str("a query without a path (\"/\") after the host"),
        }
    }
}

/// A URL that passed [`parse_url`]: its origin and whether it has a path, query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub origin: Origin,
    /// Everything after the authority (path and query), possibly empty.
    pub rest: String,
}

fn url_byte_ok(b: u8) -> bool {
    // RFC 3986 unreserved, reserved and '%'.
    b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b)
}

/// Parses an absolute `http` or `https` URL strictly (see the module's note).
pub fn parse_url(s: &str) -> Result<Url, UrlError> {
    if s.is_empty() {
        return Err(UrlError::Empty);
    }
    if s.len() > MAX_URL {
        return Err(UrlError::TooLong(s.len()));
    }
    let bytes = s.as_bytes();
    if let Some(&b) = bytes.iter().find(|&&b| !url_byte_ok(b)) {
        return Err(UrlError::BadCharacter(b));
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(UrlError::BadPercentEscape)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(UrlError::BadPercentEscape);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    let Some((scheme, after)) = s.split_once("://") else {
        return Err(UrlError::NotAbsolute);
    };
    if scheme.is_empty()
        || !scheme.as_bytes()[0].is_ascii_alphabetic()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return Err(UrlError::NotAbsolute);
    }
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return Err(UrlError::Scheme(scheme)),
    };
    if s.contains('#') {
        return Err(UrlError::Fragment);
    }
    let end = after.find(['/', '?']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    if authority.contains('@') {
        return Err(UrlError::Userinfo);
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, tail) = v6.split_once(']').ok_or(UrlError::BadHost)?;
        if addr.is_empty()
            || !addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(UrlError::BadHost);
        }
        let port = match tail {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(UrlError::BadHost)?),
        };
        (format!("[{}]", addr.to_ascii_lowercase()), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if host.is_empty()
            || host.starts_with(['.', '-'])
            || host.contains("..")
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(UrlError::BadHost);
        }
        (host.to_ascii_lowercase(), port)
    };
    // An empty port ("host:") is allowed by RFC 3986 but refused by NGINX's URL parser (as is
    // "[::1]?q", which it reads as the port "?q"): refused here, so that what is accepted is
    // what `proxy_pass` fetches.
    if rest.starts_with('?') {
        return Err(UrlError::QueryWithoutPath);
    }
    let port = match port {
        None => default_port,
        Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(UrlError::BadPort),
        },
        Some(_) => return Err(UrlError::BadPort),
    };
    Ok(Url {
        origin: Origin { scheme, host, port },
        rest: rest.to_owned(),
    })
}

/// Parses one `jwks_origins=` entry: `scheme://host[:port]`, nothing after it (a trailing `/`
/// is tolerated).
pub fn parse_origin(s: &str) -> Result<Origin, String> {
    let url = parse_url(s).map_err(|e| e.to_string())?;
    if !(url.rest.is_empty() || url.rest == "/") {
        return Err("an origin is \"scheme://host[:port]\", without a path or query".into());
    }
    Ok(url.origin)
}

/// What a discovery source was configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// `issuer=`, compared byte for byte with the document's `issuer`.
    pub issuer: String,
    /// The issuer's origin (first) and the `jwks_origins=` ones.
    pub origins: Vec<Origin>,
}

impl Expectation {
    /// Checks the configuration: the issuer is an `http` or `https` URL without query or
    /// fragment (OpenID Connect Discovery 1.0, section 3 / Core section 2), and every listed
    /// origin has an accepted scheme (`https`, or the issuer's own).
    pub fn new(issuer: &str, jwks_origins: &[&str]) -> Result<Expectation, String> {
        let url = parse_url(issuer).map_err(|e| format!("issuer \"{}\": {e}", printable(issuer, 128)))?;
        if url.rest.contains('?') {
            return Err(format!(
                "issuer \"{}\": a query is not allowed in an OpenID Connect issuer",
                printable(issuer, 128)
            ));
        }
        if jwks_origins.len() > MAX_ORIGINS {
            return Err(format!("more than {MAX_ORIGINS} origins in \"jwks_origins=\""));
        }
        let mut origins = vec![url.origin];
        for o in jwks_origins {
            let origin = parse_origin(o).map_err(|e| format!("origin \"{}\": {e}", printable(o, 128)))?;
            if origin.scheme != "https" && origin.scheme != origins[0].scheme {
                return Err(format!(
                    "origin \"{}\": only \"https\" (or the issuer's own scheme) is accepted",
                    printable(o, 128)
                ));
            }
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(Expectation {
            issuer: issuer.to_owned(),
            origins,
        })
    }

    /// Checks a discovery document; returns its `jwks_uri`.
    pub fn check(&self, doc: &[u8]) -> Result<String, DiscoveryError> {
        if doc.len() > MAX_DOCUMENT {
            return Err(DiscoveryError::TooLarge(doc.len()));
        }
        if doc.is_empty() {
            return Err(DiscoveryError::Empty);
        }
        let m = json::parse_object(doc).map_err(|e| match e {
            json::JsonError::Invalid => DiscoveryError::Json,
            json::JsonError::NotObject => DiscoveryError::NotObject,
        })?;
        let issuer = match m.get("issuer") {
            None => return Err(DiscoveryError::Missing("issuer")),
            Some(Value::String(s)) => s,
            Some(_) => return Err(DiscoveryError::NotString("issuer")),
        };
        if *issuer != self.issuer {
            return Err(DiscoveryError::IssuerMismatch(printable(issuer, 128)));
        }
        let jwks_uri = match m.get("jwks_uri") {
            None => return Err(DiscoveryError::Missing("jwks_uri")),
            Some(Value::String(s)) => s,
            Some(_) => return Err(DiscoveryError::NotString("jwks_uri")),
        };
        let shown = || printable(jwks_uri, 128);
        let url = parse_url(jwks_uri).map_err(|e| DiscoveryError::JwksUri(shown(), e))?;
        let scheme = &url.origin.scheme;
        if scheme != "https" && *scheme != self.origins[0].scheme {
            return Err(DiscoveryError::JwksUriScheme(shown()));
        }
        if !self.origins.contains(&url.origin) {
            return Err(DiscoveryError::JwksUriOrigin(shown()));
        }
        Ok(jwks_uri.clone())
    }
}

/// Why a discovery document yields no key-set URL. Each has its own text for the log and the
/// status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    Empty,
    TooLarge(usize),
    /// Not valid JSON (or duplicate member names, or nesting too deep).
    Json,
    NotObject,
    Missing(&'static str),
    NotString(&'static str),
    /// The document names another issuer (printable, bounded).
    IssuerMismatch(String),
    JwksUri(String, UrlError),
    /// `jwks_uri` is neither `https` nor the issuer's scheme.
    JwksUriScheme(String),
    /// `jwks_uri` is on an origin neither the issuer's nor listed.
    JwksUriOrigin(String),
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::Empty => f.write_str("empty document"),
            DiscoveryError::TooLarge(n) => write!(f, "document of {n} bytes, larger than {MAX_DOCUMENT}"),
            DiscoveryError::Json => f.write_str("invalid JSON"),
            DiscoveryError::NotObject => f.write_str("not a JSON object"),
            DiscoveryError::Missing(m) => write!(f, "no \"{m}\" member"),
            DiscoveryError::NotString(m) => write!(f, "\"{m}\" is not a string"),
            DiscoveryError::IssuerMismatch(i) => {
                write!(
                    f,
                    "issuer mismatch: the document names \"{i}\" (IdP mix-up refused)"
                )
            }
            DiscoveryError::JwksUri(u, e) => write!(f, "jwks_uri \"{u}\" refused: {e}"),
            DiscoveryError::JwksUriScheme(u) => {
                write!(f, "jwks_uri \"{u}\" refused: not https (nor the issuer's scheme)")
            }
            DiscoveryError::JwksUriOrigin(u) => write!(
                f,
                "jwks_uri \"{u}\" refused: not on the issuer's origin nor one in \"jwks_origins=\""
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(issuer: &str, origins: &[&str]) -> Expectation {
        Expectation::new(issuer, origins).unwrap()
    }

    fn doc(issuer: &str, jwks_uri: &str) -> Vec<u8> {
        serde_json::json!({"issuer": issuer, "jwks_uri": jwks_uri, "token_endpoint": "x"})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn accepts_same_origin() {
        let e = exp("https://idp.example", &[]);
        assert_eq!(
            e.check(&doc("https://idp.example", "https://idp.example/jwks")),
            Ok("https://idp.example/jwks".into())
        );
        // Default port written out, host in another case: the same origin.
        assert!(e
            .check(&doc("https://idp.example", "https://IDP.example:443/k?x=1"))
            .is_ok());
        let e = exp("https://idp.example:8443/tenant/a", &[]);
        assert!(e
            .check(&doc(
                "https://idp.example:8443/tenant/a",
                "https://idp.example:8443/keys"
            ))
            .is_ok());
        assert!(e
            .check(&doc(
                "https://idp.example:8443/tenant/a",
                "https://idp.example/keys"
            ))
            .is_err());
    }

    #[test]
    fn issuer_must_match_exactly() {
        let e = exp("https://idp.example", &[]);
        for other in [
            "https://idp.example/",
            "https://IDP.example",
            "https://evil.example",
            "https://idp.example ",
            "",
        ] {
            assert!(
                matches!(
                    e.check(&doc(other, "https://idp.example/jwks")),
                    Err(DiscoveryError::IssuerMismatch(_))
                ),
                "{other:?}"
            );
        }
        let text = e
            .check(&doc("https://evil.example", "https://idp.example/jwks"))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("issuer mismatch") && text.contains("https://evil.example"),
            "{text}"
        );
    }

    #[test]
    fn jwks_uri_origins() {
        let google = exp("https://accounts.google.com", &["https://www.googleapis.com"]);
        assert!(google
            .check(&doc(
                "https://accounts.google.com",
                "https://www.googleapis.com/oauth2/v3/certs"
            ))
            .is_ok());
        let plain = exp("https://accounts.google.com", &[]);
        assert!(matches!(
            plain.check(&doc(
                "https://accounts.google.com",
                "https://www.googleapis.com/oauth2/v3/certs"
            )),
            Err(DiscoveryError::JwksUriOrigin(_))
        ));
        // Another port is another origin.
        assert!(matches!(
            plain.check(&doc(
                "https://accounts.google.com",
                "https://accounts.google.com:444/k"
            )),
            Err(DiscoveryError::JwksUriOrigin(_))
        ));
        // A suffix trick is another host.
        assert!(matches!(
            plain.check(&doc(
                "https://accounts.google.com",
                "https://accounts.google.com.evil.example/k"
            )),
            Err(DiscoveryError::JwksUriOrigin(_))
        ));
    }

    #[test]
    fn well_known_providers() {
        // Google: the key set on another origin than the issuer.
        let google = exp("https://accounts.google.com", &["https://www.googleapis.com"]);
        assert!(google
            .check(&doc(
                "https://accounts.google.com",
                "https://www.googleapis.com/oauth2/v3/certs"
            ))
            .is_ok());
        // Firebase Authentication: a path issuer, and an '@' in the key set's path (not userinfo).
        let issuer = "https://securetoken.google.com/my-project";
        let firebase = exp(issuer, &["https://www.googleapis.com"]);
        let jwks =
            "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";
        assert_eq!(firebase.check(&doc(issuer, jwks)), Ok(jwks.to_owned()));
        // Another project's document is a mix-up.
        assert!(matches!(
            firebase.check(&doc("https://securetoken.google.com/other-project", jwks)),
            Err(DiscoveryError::IssuerMismatch(_))
        ));
    }

    #[test]
    fn schemes() {
        let e = exp("https://idp.example", &[]);
        assert!(matches!(
            e.check(&doc("https://idp.example", "http://idp.example/jwks")),
            Err(DiscoveryError::JwksUriScheme(_))
        ));
        assert!(matches!(
            e.check(&doc("https://idp.example", "ftp://idp.example/jwks")),
            Err(DiscoveryError::JwksUri(_, UrlError::Scheme(_)))
        ));
        // A test provider on http: its own scheme is accepted, https too (another origin).
        let t = exp("http://127.0.0.1:8080", &["https://keys.example"]);
        assert!(t
            .check(&doc("http://127.0.0.1:8080", "http://127.0.0.1:8080/jwks"))
            .is_ok());
        assert!(t
            .check(&doc("http://127.0.0.1:8080", "https://keys.example/jwks"))
            .is_ok());
        assert!(matches!(
            t.check(&doc("http://127.0.0.1:8080", "http://127.0.0.1:8081/jwks")),
            Err(DiscoveryError::JwksUriOrigin(_))
        ));
        // An http origin cannot be listed for an https issuer.
        assert!(Expectation::new("https://idp.example", &["http://keys.example"]).is_err());
    }

    #[test]
    fn jwks_uri_shapes_refused() {
        let e = exp("https://idp.example", &[]);
        let check = |u: &str| e.check(&doc("https://idp.example", u));
        assert!(matches!(
            check("/jwks"),
            Err(DiscoveryError::JwksUri(_, UrlError::NotAbsolute))
        ));
        assert!(matches!(
            check("//idp.example/jwks"),
            Err(DiscoveryError::JwksUri(_, UrlError::NotAbsolute))
        ));
        assert!(matches!(
            check("https://user:pw@idp.example/jwks"),
            Err(DiscoveryError::JwksUri(_, UrlError::Userinfo))
        ));
        assert!(matches!(
            check("https://evil.example@idp.example/jwks"),
            Err(DiscoveryError::JwksUri(_, UrlError::Userinfo))
        ));
        assert!(matches!(
            check("https://idp.example/jwks#frag"),
            Err(DiscoveryError::JwksUri(_, UrlError::Fragment))
        ));
        assert!(matches!(
            check("https://idp.example/jwks\r\nX-Evil: 1"),
            Err(DiscoveryError::JwksUri(_, UrlError::BadCharacter(b'\r')))
        ));
        assert!(matches!(
            check("https://idp.example\\@evil.example/"),
            Err(DiscoveryError::JwksUri(_, UrlError::BadCharacter(b'\\')))
        ));
        assert!(matches!(
            check("https://idp.example/%zz"),
            Err(DiscoveryError::JwksUri(_, UrlError::BadPercentEscape))
        ));
        assert!(matches!(
            check("https://idp.example:0/"),
            Err(DiscoveryError::JwksUri(_, UrlError::BadPort))
        ));
        assert!(matches!(
            check("https://idp.example:99999/"),
            Err(DiscoveryError::JwksUri(_, UrlError::BadPort))
        ));
        assert!(matches!(
            check("https://idp.example:x/"),
            Err(DiscoveryError::JwksUri(_, UrlError::BadPort))
        ));
        // What NGINX's URL parser (proxy_pass) refuses is refused here: an empty port, a query
        // right after the authority (read as an IPv6 literal's port).
        assert!(matches!(
            check("https://idp.example:/jwks"),
            Err(DiscoveryError::JwksUri(_, UrlError::BadPort))
        ));
        assert!(matches!(
            check("https://idp.example?jwks"),
            Err(DiscoveryError::JwksUri(_, UrlError::QueryWithoutPath))
        ));
        let v6 = exp("https://[::1]", &[]);
        assert!(matches!(
            v6.check(&doc("https://[::1]", "https://[::1]?jwks")),
            Err(DiscoveryError::JwksUri(_, UrlError::QueryWithoutPath))
        ));
        assert!(v6.check(&doc("https://[::1]", "https://[::1]/?jwks")).is_ok());
        assert!(check("https://idp.example:443/jwks?x=1").is_ok());
        assert!(matches!(
            check("https:///jwks"),
            Err(DiscoveryError::JwksUri(_, UrlError::BadHost))
        ));
        assert!(matches!(
            check("https://idp%2eexample/"),
            Err(DiscoveryError::JwksUri(_, UrlError::BadHost))
        ));
        assert!(matches!(
            check(""),
            Err(DiscoveryError::JwksUri(_, UrlError::Empty))
        ));
        let long = format!("https://idp.example/{}", "a".repeat(MAX_URL));
        assert!(matches!(
            check(&long),
            Err(DiscoveryError::JwksUri(_, UrlError::TooLong(_)))
        ));
        // The refusal text is printable and bounded.
        let text = check("https://idp.example/\u{7f}\u{1b}[31m")
            .unwrap_err()
            .to_string();
        assert!(text.bytes().all(|b| (b' '..=b'~').contains(&b)), "{text}");
    }

    #[test]
    fn ipv6_hosts() {
        let e = exp("http://[::1]:8080", &[]);
        assert!(e
            .check(&doc("http://[::1]:8080", "http://[::1]:8080/jwks"))
            .is_ok());
        assert!(e
            .check(&doc("http://[::1]:8080", "http://[::2]:8080/jwks"))
            .is_err());
    }

    #[test]
    fn bad_documents() {
        let e = exp("https://idp.example", &[]);
        assert_eq!(e.check(b""), Err(DiscoveryError::Empty));
        assert_eq!(e.check(b"{"), Err(DiscoveryError::Json));
        assert_eq!(e.check(b"[1]"), Err(DiscoveryError::NotObject));
        assert_eq!(
            e.check(b"\xef\xbb\xbf{}"),
            Err(DiscoveryError::Json),
            "a BOM is not JSON"
        );
        assert_eq!(e.check(b"{}"), Err(DiscoveryError::Missing("issuer")));
        assert_eq!(
            e.check(br#"{"issuer":1}"#),
            Err(DiscoveryError::NotString("issuer"))
        );
        assert_eq!(
            e.check(br#"{"issuer":"https://idp.example"}"#),
            Err(DiscoveryError::Missing("jwks_uri"))
        );
        assert_eq!(
            e.check(br#"{"issuer":"https://idp.example","jwks_uri":["https://idp.example/k"]}"#),
            Err(DiscoveryError::NotString("jwks_uri"))
        );
        // Duplicate members: two parsers could pick different issuers.
        assert_eq!(
            e.check(br#"{"issuer":"https://evil.example","issuer":"https://idp.example","jwks_uri":"https://idp.example/k"}"#),
            Err(DiscoveryError::Json)
        );
        let big = format!(
            r#"{{"issuer":"https://idp.example","jwks_uri":"https://idp.example/k","x":"{}"}}"#,
            "a".repeat(MAX_DOCUMENT)
        );
        assert_eq!(e.check(big.as_bytes()), Err(DiscoveryError::TooLarge(big.len())));
        // A JWKS where a document is expected (a loop between the two locations).
        assert_eq!(e.check(br#"{"keys":[]}"#), Err(DiscoveryError::Missing("issuer")));
    }

    #[test]
    fn configuration_checks() {
        assert!(Expectation::new("idp", &[]).is_err());
        assert!(Expectation::new("https://idp.example?x=1", &[]).is_err());
        assert!(Expectation::new("https://idp.example#x", &[]).is_err());
        assert!(Expectation::new("https://u@idp.example", &[]).is_err());
        assert!(Expectation::new("https://idp.example", &["https://keys.example/path"]).is_err());
        assert!(Expectation::new("https://idp.example", &["keys.example"]).is_err());
        assert!(Expectation::new("https://idp.example", &["https://keys.example/"]).is_ok());
        let many: Vec<String> = (0..=MAX_ORIGINS)
            .map(|i| format!("https://k{i}.example"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(Expectation::new("https://idp.example", &many).is_err());
        let e = exp("https://idp.example", &["https://KEYS.example:443"]);
        assert_eq!(e.origins[1].to_string(), "https://keys.example:443");
    }
}
