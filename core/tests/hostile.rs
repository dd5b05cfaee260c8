//! The RFC 8725 hostile-token matrix at the core (t/011-hostile.t runs the same through NGINX):
//! here every case checks the exact refusal — reason *and* the log detail — and a few things
//! only the core can show cheaply: every one-character change of a valid token is refused,
//! every prefix is refused, and the 8 KiB boundary is exact.

mod common;

use common::*;
use jwt_peer_auth_core::bearer::{from_authorization, BearerError};
use jwt_peer_auth_core::{b64, verify, AlgSet, Algorithm, KeySet, Policy};
use ring::hmac;
use serde_json::{json, Value};

/// A fixed clock: results (and expected log lines) do not depend on when the test runs.
const NOW: i64 = 1_800_000_000;
const EXP: i64 = NOW + 3600;

fn claims() -> String {
    format!(r#"{{"sub":"peer","exp":{EXP}}}"#)
}

fn all_algs() -> Policy {
    Policy {
        algorithms: Algorithm::ALL.iter().fold(AlgSet::empty(), |s, a| s.with(*a)),
        leeway: 0,
    }
}

/// The key sets the cases run against.
struct Sets {
    /// As the NGINX tests' jwks.json: RSA pinned to RS256, P-256, Ed25519.
    pinned: Vec<KeySet>,
    /// RSA unpinned (every RS*/PS*), P-256, P-384, Ed25519, and a second set with a shared
    /// secret (kid "oct"): one JWKS with both would lose its oct key.
    mixed: Vec<KeySet>,
}

fn sets() -> Sets {
    let k = keys();
    let mut rsa = k.rsa.jwk.clone();
    rsa["alg"] = json!("RS256");
    let pinned = json!({"keys": [rsa, k.es256.jwk, k.ed.jwk]});
    let oct = json!({"keys": [{"kty": "oct", "kid": "oct", "k": b64::encode(&k.hmac_secret)}]});
    let public = json!({"keys": [k.rsa.jwk, k.es256.jwk, k.es384.jwk, k.ed.jwk]});
    let parse = |v: Value| KeySet::parse(v.to_string().as_bytes()).unwrap();
    Sets {
        pinned: vec![parse(pinned)],
        mixed: vec![parse(public), parse(oct)],
    }
}

/// The key sets as [`verify`] takes them.
fn refs(sets: &[KeySet]) -> Vec<&KeySet> {
    sets.iter().collect()
}

/// HMAC (HS256/384/512 by `alg`) over the signing input exactly as given.
fn hs_input(alg: &str, input: &str, secret: &[u8]) -> String {
    let h = match alg {
        "HS384" => hmac::HMAC_SHA384,
        "HS512" => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    };
    let tag = hmac::sign(&hmac::Key::new(h, secret), input.as_bytes());
    format!("{input}.{}", b64::encode(tag.as_ref()))
}

/// A token with this exact header and payload text, HMAC-signed with the configured `oct`
/// secret (the hash named in the header text).
fn hs(header: &str, payload: &str) -> String {
    let alg = ["HS384", "HS512"]
        .into_iter()
        .find(|a| header.contains(a))
        .unwrap_or("HS256");
    hs_input(
        alg,
        &format!(
            "{}.{}",
            b64::encode(header.as_bytes()),
            b64::encode(payload.as_bytes())
        ),
        &keys().hmac_secret,
    )
}

/// Standard base64 without padding ('+' and '/').
fn b64std(data: &[u8]) -> String {
    b64::encode(data).replace('-', "+").replace('_', "/")
}

/// The same bytes with non-zero unused bits in the last character.
fn nudge_last(s: &str) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert_ne!(s.len() % 4, 0, "no unused bits");
    let last = s.as_bytes()[s.len() - 1];
    let i = ABC.iter().position(|&c| c == last).unwrap();
    format!("{}{}", &s[..s.len() - 1], ABC[i | 1] as char)
}

fn split3(t: &str) -> (String, String, String) {
    let p: Vec<&str> = t.split('.').collect();
    assert_eq!(p.len(), 3);
    (p[0].into(), p[1].into(), p[2].into())
}

fn with_sig(t: &str, sig: &[u8]) -> String {
    let (h, p, _) = split3(t);
    format!("{h}.{p}.{}", b64::encode(sig))
}

/// Runs cases and reports every mismatch at once: `None` means the token must verify,
/// `Some(line)` the exact refusal as logged (`reason (detail)`).
struct Matrix {
    failures: Vec<String>,
    count: usize,
}

impl Matrix {
    fn new() -> Matrix {
        Matrix {
            failures: Vec::new(),
            count: 0,
        }
    }

    fn case(&mut self, name: &str, token: &str, sets: &[KeySet], policy: &Policy, want: Option<&str>) {
        self.count += 1;
        let got = match verify(token.as_bytes(), &refs(sets), policy, NOW) {
            Ok(_) => None,
            Err(r) => Some(r.to_string()),
        };
        if got.as_deref() != want {
            self.failures.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }

    fn done(self) {
        assert!(
            self.failures.is_empty(),
            "{} of {} cases failed:\n{}",
            self.failures.len(),
            self.count,
            self.failures.join("\n")
        );
    }
}

#[test]
fn unsigned_and_confused_algorithms() {
    let k = keys();
    let s = sets();
    let (def, all) = (Policy::default(), all_algs());
    let mut m = Matrix::new();
    let payload = claims();

    for none in ["none", "None", "NONE", "nOnE"] {
        let want = format!("algorithm (unsigned token, alg \"{none}\")");
        let t = raw(&format!(r#"{{"alg":"{none}"}}"#), &payload, b"");
        m.case(none, &t, &s.mixed, &all, Some(&want));
        // With the kid of a configured key and an HMAC over it: still never verified.
        let t = hs(&format!(r#"{{"alg":"{none}","kid":"oct"}}"#), &payload);
        m.case(&format!("{none} signed"), &t, &s.mixed, &all, Some(&want));
    }

    // HS* with public key bytes as the HMAC secret (RSA DER and PEM, the EC point, the Ed25519
    // key): never an HMAC with a public key, whatever the allow-list.
    let rsa_pem = {
        use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
        rsa::RsaPublicKey::from_pkcs1_der(&k.rsa.public_der)
            .unwrap()
            .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
            .unwrap()
            .into_bytes()
    };
    let secrets: [(&str, &str, &[u8]); 5] = [
        ("rsa der", "rsa-1", &k.rsa.public_der),
        ("rsa pem", "rsa-1", &rsa_pem),
        ("p-256 point", "ec-1", &k.es256.public_der),
        ("p-384 point", "ec-384", &k.es384.public_der),
        ("ed25519 key", "ed-1", &k.ed.public_der),
    ];
    for (what, kid, secret) in secrets {
        for alg in ["HS256", "HS384", "HS512"] {
            let input = format!(
                "{}.{}",
                b64::encode(format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#).as_bytes()),
                b64::encode(payload.as_bytes())
            );
            let t = hs_input(alg, &input, secret);
            let name = format!("{alg} with {what}");
            m.case(
                &name,
                &t,
                &s.mixed,
                &def,
                Some(&format!("algorithm (alg not allowed \"{alg}\")")),
            );
            let want = format!("algorithm (the key with this kid does not allow alg \"{alg}\")");
            m.case(&format!("{name}, HMAC allowed"), &t, &s.mixed, &all, Some(&want));
            // Without kid only the oct key is tried, and the tag does not match it.
            let input = format!(
                "{}.{}",
                b64::encode(format!(r#"{{"alg":"{alg}"}}"#).as_bytes()),
                b64::encode(payload.as_bytes())
            );
            let t = hs_input(alg, &input, secret);
            m.case(
                &format!("{name}, no kid"),
                &t,
                &s.mixed,
                &all,
                Some("signature (signature does not verify)"),
            );
            m.case(
                &format!("{name}, no kid, no oct key"),
                &t,
                &s.pinned,
                &all,
                Some(&format!("algorithm (no key allows alg \"{alg}\")")),
            );
        }
    }

    // RS256 header over a PS256 signature and the reverse.
    let h_rs = r#"{"alg":"RS256","kid":"rsa-1"}"#;
    let h_ps = r#"{"alg":"PS256","kid":"rsa-1"}"#;
    let bad = Some("signature (signature does not verify)");
    m.case(
        "RS256 over PSS",
        &rsa_raw(&k.rsa, h_rs, &payload, true),
        &s.mixed,
        &all,
        bad,
    );
    m.case(
        "PS256 over PKCS1",
        &rsa_raw(&k.rsa, h_ps, &payload, false),
        &s.mixed,
        &all,
        bad,
    );
    m.case(
        "RS256 over PSS, pinned",
        &rsa_raw(&k.rsa, h_rs, &payload, true),
        &s.pinned,
        &all,
        bad,
    );
    m.case(
        "PS256 over PKCS1, pinned",
        &rsa_raw(&k.rsa, h_ps, &payload, false),
        &s.pinned,
        &all,
        Some("algorithm (the key with this kid does not allow alg \"PS256\")"),
    );
    let rs256 = rsa_raw(&k.rsa, h_rs, &payload, false);
    let (_, p, sig) = split3(&rs256);
    let rs384 = format!("{}.{p}.{sig}", b64::encode(br#"{"alg":"RS384","kid":"rsa-1"}"#));
    m.case("RS384 header over RS256", &rs384, &s.mixed, &all, bad);
    // A key type the algorithm does not fit, named by kid.
    let es = sign_as(
        &k.es256,
        jsonwebtoken::Algorithm::ES256,
        Some("rsa-1"),
        &json!({"exp": EXP}),
    );
    m.case(
        "ES256 naming the RSA key",
        &es,
        &s.mixed,
        &all,
        Some("algorithm (the key with this kid does not allow alg \"ES256\")"),
    );
    let ed = sign_as(
        &k.ed,
        jsonwebtoken::Algorithm::EdDSA,
        Some("ec-1"),
        &json!({"exp": EXP}),
    );
    m.case(
        "EdDSA naming the P-256 key",
        &ed,
        &s.mixed,
        &all,
        Some("algorithm (the key with this kid does not allow alg \"EdDSA\")"),
    );
    m.case(
        "alg with a NUL",
        &raw(r#"{"alg":"RS256\u0000","kid":"rsa-1"}"#, &payload, b"x"),
        &s.mixed,
        &all,
        Some("algorithm (unsupported alg \"RS256?\")"),
    );
    m.case(
        "alg lower case",
        &raw(r#"{"alg":"rs256","kid":"rsa-1"}"#, &payload, b"x"),
        &s.mixed,
        &all,
        Some("algorithm (unsupported alg \"rs256\")"),
    );
    m.done();
}

#[test]
fn ecdsa_and_eddsa_signature_shapes() {
    let k = keys();
    let s = sets();
    let all = all_algs();
    let mut m = Matrix::new();
    let good = sign(&k.es256, &json!({"exp": EXP}));
    m.case("valid ES256", &good, &s.mixed, &all, None);
    let sig = b64::decode(split3(&good).2.as_bytes()).unwrap();
    assert_eq!(sig.len(), 64);
    let (r, sv) = (&sig[..32], &sig[32..]);
    let bad = Some("signature (signature does not verify)");

    let der = {
        let int = |v: &[u8]| {
            let v: Vec<u8> = v.iter().copied().skip_while(|&b| b == 0).collect();
            let mut out = vec![2u8];
            let pad = v.first().is_some_and(|&b| b >= 0x80);
            out.push((v.len() + usize::from(pad)) as u8);
            if pad {
                out.push(0);
            }
            out.extend(v);
            out
        };
        let mut seq = int(r);
        seq.extend(int(sv));
        let mut out = vec![0x30, seq.len() as u8];
        out.extend(seq);
        out
    };
    let p256_n: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc,
        0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
    ];
    let shapes: Vec<(&str, Vec<u8>)> = vec![
        ("63 bytes", sig[..63].to_vec()),
        ("65 bytes", [&sig[..], &[0]].concat()),
        ("96 bytes (P-384 size)", [&sig[..], &sig[..32]].concat()),
        ("DER-encoded", der),
        ("r = s = 0 (CVE-2022-21449)", vec![0; 64]),
        ("r = s = n", [p256_n, p256_n].concat()),
        ("r and s swapped", [sv, r].concat()),
        ("r = n, s as signed", [&p256_n[..], sv].concat()),
    ];
    for (name, bytes) in &shapes {
        m.case(name, &with_sig(&good, bytes), &s.mixed, &all, bad);
    }
    m.case(
        "empty",
        &with_sig(&good, b""),
        &s.mixed,
        &all,
        Some("signature (empty signature)"),
    );
    // An ES384 header over the ES256 token, no kid: only the P-384 key is tried.
    let (_, p, sg) = split3(&good);
    let t = format!("{}.{p}.{sg}", b64::encode(br#"{"alg":"ES384"}"#));
    m.case("ES384 header over ES256", &t, &s.mixed, &all, bad);

    // Ed25519: S + L (a non-canonical scalar with the same value mod L) is refused.
    let ed = sign(&k.ed, &json!({"exp": EXP}));
    m.case("valid EdDSA", &ed, &s.mixed, &all, None);
    let esig = b64::decode(split3(&ed).2.as_bytes()).unwrap();
    let l = rsa::BigUint::parse_bytes(
        b"7237005577332262213973186563042994240857116359379907606001950938285454250989",
        10,
    )
    .unwrap();
    let mut s_le = esig[32..].to_vec();
    s_le.reverse();
    let s_plus_l = rsa::BigUint::from_bytes_be(&s_le) + &l;
    // S < L < 2^253, so S + L still fits the 32 bytes.
    let mut bytes = s_plus_l.to_bytes_le();
    bytes.resize(32, 0);
    m.case(
        "EdDSA S + L",
        &with_sig(&ed, &[&esig[..32], &bytes[..]].concat()),
        &s.mixed,
        &all,
        bad,
    );
    m.case("EdDSA 63 bytes", &with_sig(&ed, &esig[..63]), &s.mixed, &all, bad);
    m.done();
}

/// ECDSA signatures are malleable: (r, n - s) verifies as well as (r, s). Not a weakness for
/// bearer verification (the claims and signer are the same), but token strings are not unique:
/// nothing may use the token text as a replay id. This documents the behaviour.
#[test]
fn ecdsa_high_s_is_a_second_valid_encoding() {
    let k = keys();
    let s = sets();
    let good = sign(&k.es256, &json!({"exp": EXP}));
    let sig = b64::decode(split3(&good).2.as_bytes()).unwrap();
    let n = rsa::BigUint::parse_bytes(
        b"FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",
        16,
    )
    .unwrap();
    let high = &n - rsa::BigUint::from_bytes_be(&sig[32..]);
    let mut hb = high.to_bytes_be();
    while hb.len() < 32 {
        hb.insert(0, 0);
    }
    let twin = with_sig(&good, &[&sig[..32], &hb[..]].concat());
    assert_ne!(twin, good);
    let r = verify(twin.as_bytes(), &refs(&s.mixed), &all_algs(), NOW);
    assert!(
        r.is_ok(),
        "ring refuses high-S now: {r:?} (then update this note)"
    );
}

#[test]
fn kid_values_are_only_compared_and_logged_printably() {
    let k = keys();
    let s = sets();
    let all = all_algs();
    let mut m = Matrix::new();
    let payload = claims();
    let unknown = |kid: &str| {
        let h = json!({"alg": "RS256", "kid": kid}).to_string();
        rsa_raw(&k.rsa, &h, &payload, false)
    };
    for (kid, logged) in [
        ("../../etc/passwd", "../../etc/passwd"),
        ("' OR 1=1 --", "' OR 1=1 --"),
        ("%s%n%x%p", "%s%n%x%p"),
        ("a\r\nb\u{1b}[31m\0\"\\\u{e9}z", "a??b?[31m????z"),
        ("", ""),
    ] {
        let want = format!("unknown_kid (no key with kid \"{logged}\")");
        m.case(
            &format!("kid {kid:?}"),
            &unknown(kid),
            &s.mixed,
            &all,
            Some(&want),
        );
    }
    let long = "k".repeat(300);
    let want = format!("unknown_kid (no key with kid \"{}...\")", "k".repeat(64));
    m.case("300-char kid", &unknown(&long), &s.mixed, &all, Some(&want));
    // A kid equal to a configured one except for case or padding is still unknown.
    m.case(
        "kid case",
        &unknown("RSA-1"),
        &s.mixed,
        &all,
        Some("unknown_kid (no key with kid \"RSA-1\")"),
    );
    m.case(
        "kid with a NUL suffix",
        &unknown("rsa-1\0"),
        &s.mixed,
        &all,
        Some("unknown_kid (no key with kid \"rsa-1?\")"),
    );
    m.done();
}

#[test]
fn header_parameters_that_could_redirect_trust() {
    let k = keys();
    let s = sets();
    let all = all_algs();
    let mut m = Matrix::new();
    let payload = claims();
    for extra in [
        r#""jku":"http://127.0.0.1:1/jwks.json""#,
        r#""x5u":"http://127.0.0.1:1/cert.pem""#,
        r#""x5c":["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]"#,
        r#""x5t":"AAAA","x5t#S256":"AAAA""#,
    ] {
        // Signed by an unknown key: its kid is unknown, or without kid the configured keys fail.
        let h = format!(r#"{{"alg":"RS256","kid":"rsa-2",{extra}}}"#);
        let want = Some("unknown_kid (no key with kid \"rsa-2\")");
        m.case(
            extra,
            &rsa_raw(&k.rsa_other, &h, &payload, false),
            &s.mixed,
            &all,
            want,
        );
        let h = format!(r#"{{"alg":"RS256",{extra}}}"#);
        let bad = Some("signature (signature does not verify)");
        m.case(
            &format!("{extra} no kid"),
            &rsa_raw(&k.rsa_other, &h, &payload, false),
            &s.mixed,
            &all,
            bad,
        );
        // Correctly signed: the parameter is ignored and the token passes.
        let h = format!(r#"{{"alg":"RS256","kid":"rsa-1",{extra}}}"#);
        m.case(
            &format!("{extra} good"),
            &rsa_raw(&k.rsa, &h, &payload, false),
            &s.mixed,
            &all,
            None,
        );
    }
    let mut evil = k.rsa_other.jwk.clone();
    evil["kid"] = json!("rsa-1");
    let h = format!(r#"{{"alg":"RS256","kid":"rsa-1","jwk":{evil}}}"#);
    m.case(
        "embedded jwk",
        &rsa_raw(&k.rsa_other, &h, &payload, false),
        &s.mixed,
        &all,
        Some("signature (signature does not verify)"),
    );

    let crit = Some("malformed (unsupported \"crit\" header parameter)");
    let b64f = Some("malformed (unsupported \"b64\" header parameter)");
    for (h, want) in [
        (r#"{"alg":"HS256","crit":["x-policy"],"x-policy":1}"#, crit),
        (r#"{"alg":"HS256","crit":[]}"#, crit),
        (r#"{"alg":"HS256","crit":"b64"}"#, crit),
        (r#"{"alg":"HS256","crit":null}"#, crit),
        (r#"{"alg":"HS256","b64":false,"crit":["b64"]}"#, crit),
        (r#"{"alg":"HS256","b64":false}"#, b64f),
        (r#"{"alg":"HS256","b64":"false"}"#, b64f),
        (r#"{"alg":"HS256","b64":null}"#, b64f),
        (r#"{"alg":"HS256","b64":true}"#, None),
        (
            r#"{"alg":"HS256","kid":"oct","typ":"at+jwt","cty":"JWT","zip":"DEF"}"#,
            None,
        ),
    ] {
        m.case(h, &hs(h, &payload), &s.mixed, &all, want);
    }
    for (h, want) in [
        (r#"{"alg":["HS256"]}"#, "malformed (\"alg\" is not a string)"),
        (r#"{"alg":null}"#, "malformed (\"alg\" is not a string)"),
        (r#"{"kid":"oct"}"#, "malformed (header has no \"alg\")"),
        (
            r#"{"alg":"HS256","kid":1}"#,
            "malformed (\"kid\" is not a string)",
        ),
        (
            r#"{"alg":"HS256","kid":null}"#,
            "malformed (\"kid\" is not a string)",
        ),
        (r#"["HS256"]"#, "malformed (header is not a JSON object)"),
        (r#""HS256""#, "malformed (header is not a JSON object)"),
        (
            "\u{feff}{\"alg\":\"HS256\"}",
            "malformed (header is not a JSON object)",
        ),
        (r#"{"alg":"HS256"} {}"#, "malformed (header is not a JSON object)"),
        (r#"{"alg":"HS256",}"#, "malformed (header is not a JSON object)"),
        (r#"{'alg':'HS256'}"#, "malformed (header is not a JSON object)"),
    ] {
        m.case(h, &hs(h, &payload), &s.mixed, &all, Some(want));
    }
    m.done();
}

#[test]
fn duplicate_member_names() {
    let s = sets();
    let all = all_algs();
    let mut m = Matrix::new();
    let payload = claims();
    let header_dup = Some("malformed (header is not a JSON object)");
    for h in [
        r#"{"alg":"none","alg":"HS256"}"#,
        r#"{"alg":"HS256","alg":"none"}"#,
        r#"{"alg":"HS256","\u0061lg":"none"}"#,
        r#"{"alg":"HS256","kid":"x","kid":"oct"}"#,
        r#"{"alg":"HS256","x":{"y":1,"y":2}}"#,
        r#"{"alg":"HS256","x":[{"y":1,"y":2}]}"#,
    ] {
        m.case(h, &hs(h, &payload), &s.mixed, &all, header_dup);
    }
    let h = r#"{"alg":"HS256","kid":"oct"}"#;
    let payload_dup = Some("malformed (payload is not a JSON object)");
    for p in [
        format!(r#"{{"exp":1,"exp":{EXP}}}"#),
        format!(r#"{{"exp":{EXP},"exp":1}}"#),
        format!(r#"{{"exp":{EXP},"\u0065xp":1}}"#),
        format!(r#"{{"exp":{EXP},"sub":"a","sub":"admin"}}"#),
        format!(r#"{{"exp":{EXP},"ext":{{"role":"peer","role":"admin"}}}}"#),
    ] {
        m.case(&p, &hs(h, &p), &s.mixed, &all, payload_dup);
    }
    m.done();
}

#[test]
fn base64url_is_canonical_in_every_part() {
    let k = keys();
    let s = sets();
    let all = all_algs();
    let mut m = Matrix::new();
    let hdr = r#"{"alg":"HS256","kid":"oct","x":"~~~???"}"#;
    let pl = format!(r#"{{"exp":{EXP},"x":"~~~???"}}"#);
    assert!(b64std(hdr.as_bytes()).contains(['+', '/']) && b64std(pl.as_bytes()).contains(['+', '/']));
    let good = hs(hdr, &pl);
    m.case("control", &good, &s.mixed, &all, None);
    let (h, p, sg) = split3(&good);
    let secret = &k.hmac_secret;
    let hbad = Some("malformed (header is not base64url)");
    let pbad = Some("malformed (payload is not base64url)");
    let sbad = Some("malformed (signature is not base64url)");
    // Signed over the altered text, so only the encoding is wrong.
    let signed = |hh: &str, pp: &str| hs_input("HS256", &format!("{hh}.{pp}"), secret);
    m.case(
        "header +/",
        &signed(&b64std(hdr.as_bytes()), &p),
        &s.mixed,
        &all,
        hbad,
    );
    m.case(
        "payload +/",
        &signed(&h, &b64std(pl.as_bytes())),
        &s.mixed,
        &all,
        pbad,
    );
    let sig_std = b64std(&b64::decode(sg.as_bytes()).unwrap());
    if sig_std != sg {
        m.case(
            "signature +/",
            &format!("{h}.{p}.{sig_std}"),
            &s.mixed,
            &all,
            sbad,
        );
    }
    for pad in ["=", "=="] {
        m.case(
            &format!("header {pad}"),
            &signed(&format!("{h}{pad}"), &p),
            &s.mixed,
            &all,
            hbad,
        );
        m.case(
            &format!("payload {pad}"),
            &signed(&h, &format!("{p}{pad}")),
            &s.mixed,
            &all,
            pbad,
        );
        m.case(
            &format!("signature {pad}"),
            &format!("{good}{pad}"),
            &s.mixed,
            &all,
            sbad,
        );
    }
    for ws in [" ", "\t", "\n", "\r\n"] {
        let mid = p.len() / 2;
        let pp = format!("{}{ws}{}", &p[..mid], &p[mid..]);
        m.case(
            &format!("payload with {ws:?}"),
            &signed(&h, &pp),
            &s.mixed,
            &all,
            pbad,
        );
    }
    // Non-zero unused bits: the same bytes as the valid token, a second spelling of it.
    let mut ph = hdr.to_string();
    while ph.len().is_multiple_of(3) {
        ph.push(' ');
    }
    let mut pp = pl.clone();
    while pp.len() % 3 == 0 {
        pp.push(' ');
    }
    let hh = b64::encode(ph.as_bytes());
    let pe = b64::encode(pp.as_bytes());
    m.case(
        "header trailing bits",
        &signed(&nudge_last(&hh), &pe),
        &s.mixed,
        &all,
        hbad,
    );
    m.case(
        "payload trailing bits",
        &signed(&hh, &nudge_last(&pe)),
        &s.mixed,
        &all,
        pbad,
    );
    m.case(
        "signature trailing bits",
        &format!("{h}.{p}.{}", nudge_last(&sg)),
        &s.mixed,
        &all,
        sbad,
    );
    // A length no encoding has (len % 4 == 1).
    assert_eq!(sg.len() % 4, 3);
    m.case(
        "signature length 4n+1",
        &format!("{good}AA"),
        &s.mixed,
        &all,
        sbad,
    );
    m.done();
}

/// Every single-character change of a valid token, and every proper prefix, is refused:
/// no second spelling of a token verifies (RSA signatures aside, see the ECDSA note above).
#[test]
fn every_one_character_change_and_every_prefix_is_refused() {
    let k = keys();
    let s = sets();
    let all = all_algs();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
    let tokens = [
        hs(r#"{"alg":"HS256","kid":"oct"}"#, &claims()),
        sign(&k.ed, &json!({"exp": EXP})),
    ];
    let mut tried = 0;
    for good in &tokens {
        assert!(verify(good.as_bytes(), &refs(&s.mixed), &all, NOW).is_ok());
        let bytes = good.as_bytes();
        for i in 0..bytes.len() {
            for &c in alphabet {
                if bytes[i] == c {
                    continue;
                }
                let mut t = bytes.to_vec();
                t[i] = c;
                tried += 1;
                assert!(
                    verify(&t, &refs(&s.mixed), &all, NOW).is_err(),
                    "accepted with position {i} changed to {:?}: {}",
                    c as char,
                    String::from_utf8_lossy(&t)
                );
            }
        }
        for n in 0..bytes.len() {
            assert!(
                verify(&bytes[..n], &refs(&s.mixed), &all, NOW).is_err(),
                "prefix {n} accepted"
            );
        }
    }
    assert!(tried > 10_000);
}

#[test]
fn structure_and_size() {
    let s = sets();
    let all = all_algs();
    let mut m = Matrix::new();
    let good = hs(r#"{"alg":"HS256","kid":"oct"}"#, &claims());
    let (h, p, sg) = split3(&good);
    let parts3 = Some("malformed (not three dot-separated parts)");
    let empty = Some("malformed (empty header or payload part)");
    for (name, t, want) in [
        ("two parts", format!("{h}.{p}"), parts3),
        ("four parts", format!("{good}.AAAA"), parts3),
        ("six parts", format!("{good}.AAAA.AAAA.AAAA"), parts3),
        ("one part", h.clone(), parts3),
        ("empty", String::new(), parts3),
        ("one dot", ".".into(), parts3),
        ("three dots", "...".into(), parts3),
        ("two dots", "..".into(), empty),
        ("empty header", format!(".{p}.{sg}"), empty),
        ("empty payload", format!("{h}..{sg}"), empty),
        (
            "empty signature",
            format!("{h}.{p}."),
            Some("signature (empty signature)"),
        ),
        (
            "JWE",
            format!(
                "{}.Y2Vr.aXY.Y3Q.dGFn",
                b64::encode(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#)
            ),
            Some("malformed (JWE (five parts) is not supported)"),
        ),
        (
            "16 KiB",
            format!("{h}.{}.{sg}", "A".repeat(16 * 1024)),
            Some("malformed (token longer than 8192 bytes)"),
        ),
    ] {
        m.case(name, &t, &s.mixed, &all, want);
    }
    // The limit is exact: 8192 bytes verify, 8193 do not.
    let of_len = |len: usize| {
        (0..len)
            .map(|n| {
                hs(
                    r#"{"alg":"HS256","kid":"oct"}"#,
                    &format!(r#"{{"exp":{EXP},"pad":"{}"}}"#, "x".repeat(n)),
                )
            })
            .find(|t| t.len() >= len)
            .filter(|t| t.len() == len)
            .expect("a token of that length")
    };
    m.case("8192 bytes", &of_len(8192), &s.mixed, &all, None);
    m.case(
        "8193 bytes",
        &of_len(8193),
        &s.mixed,
        &all,
        Some("malformed (token longer than 8192 bytes)"),
    );
    m.done();
}

#[test]
fn nesting_depth_is_bounded() {
    let s = sets();
    let all = all_algs();
    let mut m = Matrix::new();
    let h = r#"{"alg":"HS256","kid":"oct"}"#;
    let arrays = |d: usize| format!("{}{}", "[".repeat(d), "]".repeat(d));
    let objects = |d: usize| format!("{}1{}", r#"{"a":"#.repeat(d), "}".repeat(d));
    let pbad = Some("malformed (payload is not a JSON object)");
    m.case(
        "payload arrays 1000",
        &hs(h, &format!(r#"{{"exp":{EXP},"a":{}}}"#, arrays(1000))),
        &s.mixed,
        &all,
        pbad,
    );
    m.case(
        "payload objects 1000",
        &hs(h, &format!(r#"{{"exp":{EXP},"a":{}}}"#, objects(1000))),
        &s.mixed,
        &all,
        pbad,
    );
    m.case(
        "header arrays 1000",
        &hs(&format!(r#"{{"alg":"HS256","x":{}}}"#, arrays(1000)), &claims()),
        &s.mixed,
        &all,
        Some("malformed (header is not a JSON object)"),
    );
    // Unclosed nesting far past the limit: refused without running out of stack.
    m.case(
        "payload 4000 open",
        &hs(h, &"[".repeat(4000)),
        &s.mixed,
        &all,
        pbad,
    );
    // Legitimate nesting passes.
    m.case(
        "payload arrays 100",
        &hs(h, &format!(r#"{{"exp":{EXP},"a":{}}}"#, arrays(100))),
        &s.mixed,
        &all,
        None,
    );
    m.done();
}

#[test]
fn time_claim_types_and_edges() {
    let s = sets();
    let all = all_algs();
    let mut m = Matrix::new();
    let h = r#"{"alg":"HS256","kid":"oct"}"#;
    let not_num = |c: &str| format!("malformed (\"{c}\" is not a number)");
    let not_int = |c: &str| format!("malformed (\"{c}\" is not an integer)");
    let expired = |e: &str| format!("expired (token expired at {e}, now {NOW}, leeway 0s)");
    let cases: Vec<(String, Option<String>)> = vec![
        (format!(r#"{{"exp":"{EXP}"}}"#), Some(not_num("exp"))),
        (format!(r#"{{"exp":{EXP}.5}}"#), Some(not_int("exp"))),
        (format!(r#"{{"exp":{EXP}.0}}"#), Some(not_int("exp"))),
        (r#"{"exp":1e10}"#.into(), Some(not_int("exp"))),
        (r#"{"exp":1E+10}"#.into(), Some(not_int("exp"))),
        (format!(r#"{{"exp":{}}}"#, "9".repeat(30)), Some(not_int("exp"))),
        (
            r#"{"exp":18446744073709551615}"#.into(),
            Some("malformed (\"exp\" is out of range)".into()),
        ),
        (
            r#"{"exp":9223372036854775808}"#.into(),
            Some("malformed (\"exp\" is out of range)".into()),
        ),
        (r#"{"exp":-1}"#.into(), Some(expired("-1"))),
        (r#"{"exp":0}"#.into(), Some(expired("0"))),
        (
            r#"{"exp":-9223372036854775808}"#.into(),
            Some(expired("-9223372036854775808")),
        ),
        // serde_json reads -0 as the float -0.0.
        (r#"{"exp":-0}"#.into(), Some(not_int("exp"))),
        (format!(r#"{{"exp":{NOW}}}"#), Some(expired(&NOW.to_string()))),
        (format!(r#"{{"exp":{}}}"#, NOW + 1), None),
        (r#"{"exp":9223372036854775807}"#.into(), None),
        (r#"{"exp":null}"#.into(), Some(not_num("exp"))),
        (r#"{"exp":true}"#.into(), Some(not_num("exp"))),
        (format!(r#"{{"exp":[{EXP}]}}"#), Some(not_num("exp"))),
        (format!(r#"{{"exp":{{"v":{EXP}}}}}"#), Some(not_num("exp"))),
        (r#"{"exp":""}"#.into(), Some(not_num("exp"))),
        (
            r#"{"sub":"peer"}"#.into(),
            Some("claim (no \"exp\" claim)".into()),
        ),
        (r#"{}"#.into(), Some("claim (no \"exp\" claim)".into())),
        (format!(r#"{{"exp":{EXP},"nbf":1.5}}"#), Some(not_int("nbf"))),
        (format!(r#"{{"exp":{EXP},"nbf":"0"}}"#), Some(not_num("nbf"))),
        (format!(r#"{{"exp":{EXP},"nbf":{NOW}}}"#), None),
        (
            format!(r#"{{"exp":{EXP},"nbf":{}}}"#, NOW + 1),
            Some(format!(
                "not_yet_valid (\"nbf\" {} is in the future, now {NOW}, leeway 0s)",
                NOW + 1
            )),
        ),
        (
            format!(r#"{{"exp":{EXP},"nbf":9223372036854775807}}"#),
            Some(format!(
                "not_yet_valid (\"nbf\" 9223372036854775807 is in the future, now {NOW}, leeway 0s)"
            )),
        ),
        (format!(r#"{{"exp":{EXP},"nbf":-9223372036854775808}}"#), None),
        (format!(r#"{{"exp":{EXP},"iat":"{NOW}"}}"#), Some(not_num("iat"))),
        (format!(r#"{{"exp":{EXP},"iat":{NOW}.5}}"#), Some(not_int("iat"))),
        (format!(r#"{{"exp":{EXP},"iat":{}}}"#, NOW + 86400), None),
    ];
    for (p, want) in &cases {
        m.case(p, &hs(h, p), &s.mixed, &all, want.as_deref());
    }
    // Payloads that are not a JSON object (all correctly signed).
    let pbad = Some("malformed (payload is not a JSON object)");
    for p in [
        format!(r#"[{{"exp":{EXP}}}]"#),
        format!("{EXP}"),
        "null".into(),
        format!("\u{feff}{{\"exp\":{EXP}}}"),
        format!(r#"{{"exp":{EXP}}} x"#),
        format!(r#"{{"exp":{EXP},"s":"\ud800"}}"#),
        format!(r#"{{"exp":{EXP},"n":NaN}}"#),
        format!(r#"{{"exp":{EXP},"n":1e999}}"#),
    ] {
        m.case(&p, &hs(h, &p), &s.mixed, &all, pbad);
    }
    let input = format!(
        "{}.{}",
        b64::encode(h.as_bytes()),
        b64::encode(&[br#"{"exp":9999999999,"s":""#.as_slice(), b"\xff\xfe", b"\"}"].concat())
    );
    m.case(
        "invalid UTF-8",
        &hs_input("HS256", &input, &keys().hmac_secret),
        &s.mixed,
        &all,
        pbad,
    );
    m.done();
}

#[test]
fn bearer_header_values() {
    let t = "aaa.bbb.ccc";
    let ok = |v: &str| from_authorization(v.as_bytes()).map(|b| String::from_utf8(b.to_vec()).unwrap());
    let cases: Vec<(String, Result<String, BearerError>)> = vec![
        (format!("Bearer {t}"), Ok(t.into())),
        (format!("bearer {t}"), Ok(t.into())),
        (format!("BEARER    {t}"), Ok(t.into())),
        (format!("Bearer {t}=="), Ok(format!("{t}=="))),
        (format!("Bearer {t} Bearer {t}"), Err(BearerError::Invalid)),
        (format!("Bearer Bearer {t}"), Err(BearerError::Invalid)),
        (format!("Bearer {t}, Bearer {t}"), Err(BearerError::Invalid)),
        (format!("Bearer {t},{t}"), Err(BearerError::Invalid)),
        ("Bearer aaa.b bb.ccc".into(), Err(BearerError::Invalid)),
        (format!("Bearer {t}\t"), Err(BearerError::Invalid)),
        (format!("Bearer\t{t}"), Err(BearerError::NotBearer)),
        ("Bearer aaa=.bbb.ccc".into(), Err(BearerError::Invalid)),
        ("Bearer aaa.bbb.c\u{e9}c".into(), Err(BearerError::Invalid)),
        ("Bearer aaa.bbb.c\0c".into(), Err(BearerError::Invalid)),
        (format!("Bearer ={t}"), Err(BearerError::Invalid)),
        ("Bearer".into(), Err(BearerError::Invalid)),
        ("Bearer ".into(), Err(BearerError::Invalid)),
        (format!("Bearer{t}"), Err(BearerError::NotBearer)),
        (format!("Basic {t}"), Err(BearerError::NotBearer)),
        (format!(" Bearer {t}"), Err(BearerError::NotBearer)),
        (format!("Token {t}"), Err(BearerError::NotBearer)),
        (String::new(), Err(BearerError::NotBearer)),
    ];
    let bad: Vec<String> = cases
        .iter()
        .filter(|(v, want)| &ok(v) != want)
        .map(|(v, want)| format!("{v:?}: want {want:?}, got {:?}", ok(v)))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
