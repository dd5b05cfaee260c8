//! Certificate-bound access tokens (RFC 8705 §3): `jwt_peer_auth_cert_binding`.
//!
//! A bound token carries `"cnf": {"x5t#S256": "<thumbprint>"}`, the base64url (unpadded)
//! SHA-256 of the DER encoding of the client certificate it was issued to (§3.1). The module
//! computes the same thumbprint from the certificate of the request, which NGINX gives as PEM
//! (`$ssl_client_raw_cert`) or, forwarded by a TLS terminator in front, URL-escaped PEM (as
//! `$ssl_client_escaped_cert`), and compares the two.
//!
//! - [`thumbprint_from_pem`]: PEM certificate to thumbprint.
//! - [`url_unescape`]: undoes NGINX's `ngx_escape_uri(NGX_ESCAPE_URI_COMPONENT)`.
//! - [`thumbprint_from_value`]: both, for the value of a certificate variable.
//! - [`check`]: the rule of a [`Mode`], as a [`Rejection`] of [`Reason::Binding`].

use core::fmt;

use serde_json::{Map, Value};

use crate::b64;
use crate::reason::{Reason, Rejection};

/// `jwt_peer_auth_cert_binding off | on | optional` (also `jwt_peer_auth_dpop`'s modes:
/// [`crate::dpop::Mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// No binding check (the default).
    #[default]
    Off,
    /// Every token must be bound to the request's client certificate.
    On,
    /// Tokens carrying `cnf.x5t#S256` must be bound to the request's client certificate;
    /// tokens without it pass.
    Optional,
}

impl Mode {
    /// The mode named by a directive argument: `off`, `on` or `optional` (exactly, lower case).
    pub fn parse(word: &[u8]) -> Option<Mode> {
        match word {
            b"off" => Some(Mode::Off),
            b"on" => Some(Mode::On),
            b"optional" => Some(Mode::Optional),
            _ => None,
        }
    }
}

/// Why a client certificate value gave no thumbprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingError {
    /// No `-----BEGIN CERTIFICATE-----` line.
    NoCertificate,
    /// A `BEGIN CERTIFICATE` line without its `-----END CERTIFICATE-----`.
    Unterminated,
    /// The text between the lines is not standard, padded base64 (whitespace aside).
    BadBase64,
    /// The block holds no bytes.
    EmptyDer,
    /// The bytes are not one DER SEQUENCE (a certificate), or have trailing bytes.
    NotDer,
    /// A `%` not followed by two hexadecimal digits (URL-escaped values only).
    BadEscape,
}

impl fmt::Display for BindingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BindingError::NoCertificate => "no \"BEGIN CERTIFICATE\" block",
            BindingError::Unterminated => "no \"END CERTIFICATE\" line",
            BindingError::BadBase64 => "the certificate block is not valid base64",
            BindingError::EmptyDer => "the certificate block is empty",
            BindingError::NotDer => "the certificate block is not a DER certificate",
            BindingError::BadEscape => "invalid %-escape in the certificate value",
        })
    }
}

impl std::error::Error for BindingError {}

const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const END: &[u8] = b"-----END CERTIFICATE-----";

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The value of one standard-alphabet base64 character (RFC 4648 §4).
fn b64_std(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Strict standard base64 with padding (as PEM writes it), ASCII whitespace ignored (line
/// breaks, and spaces where a header value replaced them): the length without whitespace is a
/// multiple of 4, `=` only as the last one or two characters, unused bits zero.
fn decode_pem_base64(text: &[u8]) -> Result<Vec<u8>, BindingError> {
    let chars: Vec<u8> = text
        .iter()
        .copied()
        .filter(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        .collect();
    if !chars.len().is_multiple_of(4) {
        return Err(BindingError::BadBase64);
    }
    let pad = chars.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return Err(BindingError::BadBase64);
    }
    let body = &chars[..chars.len() - pad];
    let mut out = Vec::with_capacity(chars.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in body {
        let v = b64_std(c).ok_or(BindingError::BadBase64)?;
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // What is left are the unused bits of the last character: 2 (one `=`) or 4 (two).
    if acc != 0 || bits != [0, 2, 4][pad] {
        return Err(BindingError::BadBase64);
    }
    Ok(out)
}

/// Whether `der` is exactly one DER SEQUENCE (tag 0x30, definite length covering the rest).
fn is_der_sequence(der: &[u8]) -> bool {
    let [0x30, first, rest @ ..] = der else {
        return false;
    };
    let (len, rest) = match *first {
        n if n < 0x80 => (usize::from(n), rest),
        n @ 0x81..=0x84 => {
            let k = usize::from(n - 0x80);
            if rest.len() < k || rest[0] == 0 {
                return false;
            }
            let len = rest[..k].iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
            if len < 0x80 {
                return false; // long form for a short length is not DER
            }
            (len, &rest[k..])
        }
        _ => return false,
    };
    rest.len() == len
}

/// The RFC 8705 `x5t#S256` thumbprint of the first `-----BEGIN CERTIFICATE-----` block of a
/// PEM text: its base64 (standard alphabet, line breaks allowed) decoded to DER, SHA-256,
/// base64url without padding (43 characters). Text before the block and after its `END` line
/// is ignored (RFC 7468 §2); anything else is an error.
pub fn thumbprint_from_pem(pem: &[u8]) -> Result<String, BindingError> {
    let start = find(pem, BEGIN).ok_or(BindingError::NoCertificate)? + BEGIN.len();
    let body = &pem[start..];
    let end = find(body, END).ok_or(BindingError::Unterminated)?;
    let der = decode_pem_base64(&body[..end])?;
    if der.is_empty() {
        return Err(BindingError::EmptyDer);
    }
    if !is_der_sequence(&der) {
        return Err(BindingError::NotDer);
    }
    Ok(thumbprint_of_der(&der))
}

/// The `x5t#S256` thumbprint of a DER certificate: base64url (unpadded) SHA-256.
pub fn thumbprint_of_der(der: &[u8]) -> String {
    b64::encode(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Undoes `%XX` escapes, as NGINX writes `$ssl_client_escaped_cert` (`ngx_escape_uri` with
/// `NGX_ESCAPE_URI_COMPONENT`: upper-case hex; either case is accepted here). Every other byte
/// stands for itself (`+` is a plus sign, not a space: base64 uses it). `None` when a `%` is
/// not followed by two hexadecimal digits.
pub fn url_unescape(v: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%' {
            let hi = hex(*v.get(i + 1)?)?;
            let lo = hex(*v.get(i + 2)?)?;
            out.push((hi << 4) | lo);
            i += 3;
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The thumbprint of a certificate variable's value: `Ok(None)` for an empty value (no
/// certificate), otherwise the PEM (URL-escaped when `escaped`, as for `cert=$variable`)
/// through [`thumbprint_from_pem`].
pub fn thumbprint_from_value(value: &[u8], escaped: bool) -> Result<Option<String>, BindingError> {
    if value.is_empty() {
        return Ok(None);
    }
    if escaped {
        let pem = url_unescape(value).ok_or(BindingError::BadEscape)?;
        thumbprint_from_pem(&pem).map(Some)
    } else {
        thumbprint_from_pem(value).map(Some)
    }
}

/// Equality of two byte strings in time that depends only on their lengths (the length of a
/// thumbprint is public).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The binding rule of `mode` for a verified token's claims and the thumbprint of the
/// request's client certificate (`None`: no certificate, or none that could be read).
///
/// - [`Mode::Off`]: always passes.
/// - [`Mode::On`]: the token must carry `cnf.x5t#S256`, equal to `thumbprint`.
/// - [`Mode::Optional`]: a token without `cnf`, or with a `cnf` object without `x5t#S256`
///   (another confirmation method), passes; one with `cnf.x5t#S256` is held to it as under `on`.
///
/// The token is checked before the certificate: a `cnf` that is not an object or an
/// `x5t#S256` that is not a string is refused in both modes ("a wrong type is a refusal").
pub fn check(claims: &Map<String, Value>, mode: Mode, thumbprint: Option<&str>) -> Result<(), Rejection> {
    check_cnf(claims.get("cnf"), mode, thumbprint)
}

/// [`check`] given the token's `cnf` claim alone (a cached token's claim is read by itself,
/// without parsing the whole claim set).
pub fn check_cnf(cnf: Option<&Value>, mode: Mode, thumbprint: Option<&str>) -> Result<(), Rejection> {
    let refuse = |text| Err(Rejection::new(Reason::Binding, text));
    if mode == Mode::Off {
        return Ok(());
    }
    let bound = match cnf {
        None => None,
        Some(Value::Object(cnf)) => match cnf.get("x5t#S256") {
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return refuse("x5t#S256 is not a string"),
        },
        Some(_) => return refuse("cnf is not an object"),
    };
    let Some(bound) = bound else {
        return match mode {
            Mode::On => refuse("no cnf.x5t#S256 claim"),
            _ => Ok(()),
        };
    };
    let Some(thumbprint) = thumbprint else {
        return refuse("no client certificate");
    };
    if !ct_eq(bound.as_bytes(), thumbprint.as_bytes()) {
        return refuse("cnf.x5t#S256 does not match the client certificate");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Detail;
    use serde_json::json;

    /// tests/fixtures/cert.pem: a self-signed EC P-256 certificate (CN=test), made once with
    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=test
    /// -days 1 -keyout /dev/null -out cert.pem` (its expiry does not matter here).
    const PEM: &str = include_str!("../tests/fixtures/cert.pem");
    /// `openssl x509 -in cert.pem -outform DER | openssl dgst -sha256 -binary |
    /// basenc --base64url | tr -d =`
    const THUMBPRINT: &str = "DTtk0Qy-oluBefWb5kqUTq8F__8nNtTuM2pSsQfxc5U";
    const OTHER: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    /// NGINX's `ngx_escape_uri(NGX_ESCAPE_URI_COMPONENT)` (the `uri_component` table of
    /// ngx_string.c in 1.28): every byte but letters, digits and `- . _ ~` becomes `%XX`.
    fn ngx_escape_component(v: &[u8]) -> String {
        let keep = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        v.iter()
            .map(|&c| {
                if keep(c) {
                    (c as char).to_string()
                } else {
                    format!("%{c:02X}")
                }
            })
            .collect()
    }

    fn detail(r: Result<(), Rejection>) -> String {
        let r = r.unwrap_err();
        assert_eq!(r.reason, Reason::Binding);
        match r.detail {
            Detail::Text(t) => t.to_owned(),
            d => panic!("unexpected detail {d:?}"),
        }
    }

    #[test]
    fn thumbprint_of_the_fixture_matches_openssl() {
        assert_eq!(thumbprint_from_pem(PEM.as_bytes()).unwrap(), THUMBPRINT);
        assert_eq!(THUMBPRINT.len(), 43, "SHA-256, base64url without padding");
    }

    #[test]
    fn pem_variants_give_the_same_thumbprint() {
        // CRLF line ends, explanatory text before, a second block after, all on one line with
        // spaces (a header that replaced the line breaks), no final newline.
        let crlf = PEM.replace('\n', "\r\n");
        assert_eq!(thumbprint_from_pem(crlf.as_bytes()).unwrap(), THUMBPRINT);
        let text = format!("subject=CN = test\nissuer=CN = test\n{PEM}");
        assert_eq!(thumbprint_from_pem(text.as_bytes()).unwrap(), THUMBPRINT);
        let chain = format!("{PEM}-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n");
        assert_eq!(
            thumbprint_from_pem(chain.as_bytes()).unwrap(),
            THUMBPRINT,
            "the first block"
        );
        let one_line = PEM.trim_end().replace('\n', " ");
        assert_eq!(thumbprint_from_pem(one_line.as_bytes()).unwrap(), THUMBPRINT);
        // NGINX's $ssl_client_raw_cert: the PEM as OpenSSL writes it.
        assert_eq!(
            thumbprint_from_pem(PEM.trim_end().as_bytes()).unwrap(),
            THUMBPRINT
        );
    }

    #[test]
    fn pem_errors() {
        use BindingError::*;
        let t = |s: &str| thumbprint_from_pem(s.as_bytes());
        assert_eq!(t(""), Err(NoCertificate));
        assert_eq!(t("garbage"), Err(NoCertificate));
        assert_eq!(t("\u{0}\u{1}binary"), Err(NoCertificate));
        assert_eq!(t(&PEM.replace("CERTIFICATE", "PUBLIC KEY")), Err(NoCertificate));
        assert_eq!(t("-----BEGIN CERTIFICATE-----\nMAA=\n"), Err(Unterminated));
        let body = PEM
            .replace("-----BEGIN CERTIFICATE-----", "")
            .replace("-----END CERTIFICATE-----", "");
        assert_eq!(t(&body), Err(NoCertificate), "base64 without the lines");
        assert_eq!(
            t("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"),
            Err(EmptyDer)
        );
        assert_eq!(
            t("-----BEGIN CERTIFICATE-----\n  \n-----END CERTIFICATE-----"),
            Err(EmptyDer)
        );
        let bad = |b: &str| format!("-----BEGIN CERTIFICATE-----\n{b}\n-----END CERTIFICATE-----\n");
        assert_eq!(t(&bad("MAA")), Err(BadBase64), "no padding");
        assert_eq!(t(&bad("MAA=A")), Err(BadBase64), "length");
        assert_eq!(t(&bad("MB==")), Err(BadBase64), "non-zero unused bits");
        assert_eq!(t(&bad("MAB=")), Err(BadBase64), "non-zero unused bits");
        assert_eq!(t(&bad("M===")), Err(BadBase64), "three pad characters");
        assert_eq!(t(&bad("MA=A")), Err(BadBase64), "padding inside");
        assert_eq!(t(&bad("MAA-")), Err(BadBase64), "base64url alphabet");
        assert_eq!(t(&bad("Proc-Type: 4,ENCRYPTED")), Err(BadBase64), "headers");
        assert_eq!(
            t(&bad("MAA=")),
            Ok(thumbprint_of_der(&[0x30, 0])),
            "an empty SEQUENCE is DER"
        );
        assert_eq!(t(&bad("AAA=")), Err(NotDer), "not a SEQUENCE");
        assert_eq!(t(&bad("MAE=")), Err(NotDer), "length beyond the data");
        assert_eq!(t(&bad("MAAA")), Err(NotDer), "trailing bytes");
        assert_eq!(t(&bad("MIEA")), Err(NotDer), "long form for a short length");
        // A corrupted character in the fixture changes the DER: a different thumbprint or an
        // error, never the fixture's thumbprint.
        let flipped = PEM.replacen("MIIBczCC", "MIIBczCD", 1);
        assert_ne!(t(&flipped).ok().as_deref(), Some(THUMBPRINT));
        let truncated = PEM.replacen("RRqjswIhAOFe", "", 1);
        assert_eq!(t(&truncated), Err(NotDer));
    }

    #[test]
    fn url_unescape_undoes_nginx_escaping() {
        let escaped = ngx_escape_component(PEM.as_bytes());
        assert!(
            escaped.starts_with("-----BEGIN%20CERTIFICATE-----%0AMIIB"),
            "{escaped}"
        );
        assert!(
            escaped.contains("%2F") && escaped.contains("%2B"),
            "/ and + are escaped"
        );
        assert!(
            escaped.ends_with("%3D%3D%0A-----END%20CERTIFICATE-----%0A")
                || escaped.ends_with("%0A-----END%20CERTIFICATE-----%0A")
        );
        assert_eq!(url_unescape(escaped.as_bytes()).unwrap(), PEM.as_bytes());
        assert_eq!(url_unescape(b"a%2fb%2Fc").unwrap(), b"a/b/c", "either case");
        assert_eq!(url_unescape(b"a+b").unwrap(), b"a+b", "+ is not a space");
        assert_eq!(url_unescape(b"").unwrap(), b"");
        assert_eq!(url_unescape(b"%00%FF").unwrap(), vec![0, 0xff]);
        assert_eq!(url_unescape(b"%"), None);
        assert_eq!(url_unescape(b"ab%4"), None);
        assert_eq!(url_unescape(b"%4g"), None);
        assert_eq!(url_unescape(b"%%41"), None);
        assert_eq!(url_unescape(b"%+1"), None);
    }

    #[test]
    fn thumbprint_from_a_variable_value() {
        let escaped = ngx_escape_component(PEM.as_bytes());
        assert_eq!(thumbprint_from_value(b"", false), Ok(None));
        assert_eq!(thumbprint_from_value(b"", true), Ok(None));
        assert_eq!(
            thumbprint_from_value(PEM.as_bytes(), false).unwrap().as_deref(),
            Some(THUMBPRINT)
        );
        assert_eq!(
            thumbprint_from_value(escaped.as_bytes(), true)
                .unwrap()
                .as_deref(),
            Some(THUMBPRINT)
        );
        // An unescaped PEM through cert= still reads (nothing in it looks like an escape).
        assert_eq!(
            thumbprint_from_value(PEM.as_bytes(), true).unwrap().as_deref(),
            Some(THUMBPRINT)
        );
        assert_eq!(thumbprint_from_value(b"%zz", true), Err(BindingError::BadEscape));
        assert_eq!(
            thumbprint_from_value(b"x", true),
            Err(BindingError::NoCertificate)
        );
        // Escaped text is not PEM when read raw.
        assert_eq!(
            thumbprint_from_value(escaped.as_bytes(), false),
            Err(BindingError::NoCertificate)
        );
    }

    #[test]
    fn errors_display_for_the_log() {
        assert_eq!(
            BindingError::NoCertificate.to_string(),
            "no \"BEGIN CERTIFICATE\" block"
        );
        assert_eq!(
            BindingError::BadEscape.to_string(),
            "invalid %-escape in the certificate value"
        );
    }

    #[test]
    fn mode_words() {
        assert_eq!(Mode::parse(b"off"), Some(Mode::Off));
        assert_eq!(Mode::parse(b"on"), Some(Mode::On));
        assert_eq!(Mode::parse(b"optional"), Some(Mode::Optional));
        assert_eq!(Mode::parse(b"maybe"), None);
        assert_eq!(Mode::parse(b"ON"), None);
        assert_eq!(Mode::default(), Mode::Off);
    }

    #[test]
    fn off_passes_everything() {
        for c in [json!({}), json!({"cnf": 1}), json!({"cnf": {"x5t#S256": OTHER}})] {
            assert!(check(&claims(c.clone()), Mode::Off, None).is_ok(), "{c}");
            assert!(check(&claims(c), Mode::Off, Some(THUMBPRINT)).is_ok());
        }
    }

    #[test]
    fn on_requires_the_matching_certificate() {
        let bound = claims(json!({"sub": "p", "cnf": {"x5t#S256": THUMBPRINT}}));
        assert!(check(&bound, Mode::On, Some(THUMBPRINT)).is_ok());
        assert_eq!(
            detail(check(&bound, Mode::On, Some(OTHER))),
            "cnf.x5t#S256 does not match the client certificate"
        );
        assert_eq!(detail(check(&bound, Mode::On, None)), "no client certificate");
        // A prefix, a padded form, or another case does not match.
        let short = &THUMBPRINT[..42];
        assert!(check(&bound, Mode::On, Some(short)).is_err());
        let padded = claims(json!({"cnf": {"x5t#S256": format!("{THUMBPRINT}=")}}));
        assert!(check(&padded, Mode::On, Some(THUMBPRINT)).is_err());
        let upper = claims(json!({"cnf": {"x5t#S256": THUMBPRINT.to_uppercase()}}));
        assert!(check(&upper, Mode::On, Some(THUMBPRINT)).is_err());
        let empty = claims(json!({"cnf": {"x5t#S256": ""}}));
        assert!(check(&empty, Mode::On, Some(THUMBPRINT)).is_err());
    }

    #[test]
    fn on_refuses_unbound_tokens() {
        for c in [
            json!({"sub": "p"}),
            json!({"cnf": {}}),
            json!({"cnf": {"jkt": "some-dpop-key"}}),
            json!({"x5t#S256": THUMBPRINT}),
            json!({"cnf": {"x5t#s256": THUMBPRINT}}),
        ] {
            assert_eq!(
                detail(check(&claims(c.clone()), Mode::On, Some(THUMBPRINT))),
                "no cnf.x5t#S256 claim",
                "{c}"
            );
            assert_eq!(detail(check(&claims(c), Mode::On, None)), "no cnf.x5t#S256 claim");
        }
    }

    #[test]
    fn wrong_types_are_refusals_in_both_modes() {
        for mode in [Mode::On, Mode::Optional] {
            for cnf in [
                json!(THUMBPRINT),
                json!([THUMBPRINT]),
                json!(null),
                json!(1),
                json!(true),
            ] {
                let c = claims(json!({ "cnf": cnf }));
                assert_eq!(
                    detail(check(&c, mode, Some(THUMBPRINT))),
                    "cnf is not an object",
                    "{mode:?} {cnf}"
                );
            }
            for x5t in [
                json!(null),
                json!(1),
                json!([THUMBPRINT]),
                json!({"v": THUMBPRINT}),
                json!(false),
            ] {
                let c = claims(json!({"cnf": {"x5t#S256": x5t}}));
                assert_eq!(
                    detail(check(&c, mode, Some(THUMBPRINT))),
                    "x5t#S256 is not a string",
                    "{mode:?} {x5t}"
                );
            }
        }
    }

    #[test]
    fn optional_holds_only_bound_tokens() {
        let unbound = claims(json!({"sub": "p"}));
        assert!(check(&unbound, Mode::Optional, None).is_ok());
        assert!(check(&unbound, Mode::Optional, Some(THUMBPRINT)).is_ok());
        let other_method = claims(json!({"cnf": {"jkt": "some-dpop-key"}}));
        assert!(check(&other_method, Mode::Optional, None).is_ok());
        let bound = claims(json!({"cnf": {"x5t#S256": THUMBPRINT}}));
        assert!(check(&bound, Mode::Optional, Some(THUMBPRINT)).is_ok());
        assert_eq!(
            detail(check(&bound, Mode::Optional, None)),
            "no client certificate"
        );
        assert_eq!(
            detail(check(&bound, Mode::Optional, Some(OTHER))),
            "cnf.x5t#S256 does not match the client certificate"
        );
    }

    #[test]
    fn rejection_renders_as_logged() {
        let r = check(&claims(json!({})), Mode::On, None).unwrap_err();
        assert_eq!(r.to_string(), "binding (no cnf.x5t#S256 claim)");
        assert_eq!(r.reason.http_status(), 401);
        assert_eq!(r.reason.error_code(), Some("invalid_token"));
    }

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(THUMBPRINT.as_bytes(), THUMBPRINT.as_bytes()));
        assert!(!ct_eq(b"a", b"b"));
        assert!(!ct_eq(b"ab", b"a"));
        assert!(!ct_eq(THUMBPRINT.as_bytes(), OTHER.as_bytes()));
    }
}
