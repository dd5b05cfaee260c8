//! `jwt-mint`: key pairs, a JWKS, and tokens for the demo, the tests and the benchmark.
//!
//! ```text
//! jwt-mint keygen DIR [BITS]        RSA (x2, 2048 bits or BITS), EC P-256, EC P-384, Ed25519
//!                                   key pairs, a shared secret, DIR/jwks.json (public keys
//!                                   rsa, ec, ed),
//!                                   DIR/jwks-oct.json and DIR/jwks-algs.json (every
//!                                   asymmetric algorithm: rsa pinned to RS256, "rsa-ps" the
//!                                   same key pinned to PS256, ec, ec384, ed)
//! jwt-mint sign DIR KEY [options]   print a token signed with DIR/KEY.pk8 (or KEY.secret)
//!   --alg ALG          default: RS256 for RSA, ES256 (ec), ES384 (ec384), EdDSA, HS256
//!   --kid KID          default: KEY; --no-kid leaves it out
//!   --header JSON      use this exact header JSON instead
//!   --claims JSON      merged over the defaults (sub, identifier, iat, exp)
//!   --exp SECS         exp = now + SECS (may be negative); --no-exp leaves it out
//!   --no-iat           leaves iat out
//!   --nbf SECS         nbf = now + SECS
//!   --secret-file F    HMAC with the bytes of F as secret (forging tests)
//!   --unsigned         empty signature
//!   --corrupt          flip a bit of the signature
//!   --truncate         drop the last byte of the signature
//!   --strip-leading-zero   sign (with a "try" claim counting up) until the RSA signature starts
//!                      with a zero byte, then drop that byte: the same number, one byte short
//!   --count N          print N distinct tokens, one a line (adds a "jti")
//!   --cnf-cert FILE    bind the token to the PEM certificate in FILE (RFC 8705 §3.1): adds
//!                      "cnf": {"x5t#S256": "<base64url SHA-256 of its DER>"}; applied after
//!                      --claims, so it replaces any "cnf" given there
//!   --cnf-jkt KEY      bind the token to the public key DIR/KEY (RFC 9449 §6.1): adds
//!                      "cnf": {"jkt": "<RFC 7638 thumbprint>"}; replaces any "cnf"
//!   --typ TYP          the header's "typ" (default JWT), e.g. at+jwt or dpop+jwt
//! jwt-mint eckey DIR NAME           a further EC P-256 key pair DIR/NAME.pk8 (for proofs
//!                                   of another key)
//! jwt-mint jkt DIR KEY              print the RFC 7638 thumbprint of DIR/KEY's public key
//! jwt-mint proof DIR KEY [options]  print a DPoP proof (RFC 9449) signed with DIR/KEY
//!   --htu URL          required; --htm METHOD (default GET)
//!   --token TOKEN      ath = base64url SHA-256 of TOKEN; --ath VALUE sets it as given
//!   --jti JTI          default: random; --count N prints N proofs with distinct jti
//!   --iat SECS         iat = now + SECS (default 0); --no-iat leaves it out
//!   --nonce NONCE      the "nonce" claim
//!   --alg ALG          the header's alg (default: the key's)
//!   --typ TYP          default dpop+jwt; --no-typ leaves it out
//!   --jwk-of KEY2      put KEY2's public key in the header (signed with KEY: a wrong key)
//!   --jwk-private      add the private "d" member to the header's jwk
//!   --no-jwk           no jwk in the header
//!   --header JSON, --claims JSON   merged over the header / claims built
//!   --corrupt          flip a bit of the signature
//! jwt-mint time JWKS N TOKEN...     for each token: the CPU time of one ring signature
//!                                   verification with its key, and of the whole core
//!                                   verify() (base64, JSON, key choice, signature, times),
//!                                   each the best of 5 rounds of at least N calls and 50 ms
//!                                   of CPU, in µs per call; for RSA tokens also both with the
//!                                   key's arithmetic by OpenSSL, as the module does it
//!                                   (openssl_us, openssl_verify_us; "-" for other keys)
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use jwt_peer_auth_core::{b64, binding};

mod ossl;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Map, Value};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("keygen") if args.len() == 2 => keygen(Path::new(&args[1]), 2048),
        Some("keygen") if args.len() == 3 => match args[2].parse() {
            Ok(bits) => keygen(Path::new(&args[1]), bits),
            Err(_) => Err("keygen: BITS is not a number".into()),
        },
        Some("sign") if args.len() >= 3 => sign_cmd(Path::new(&args[1]), &args[2], &args[3..]),
        Some("proof") if args.len() >= 3 => proof_cmd(Path::new(&args[1]), &args[2], &args[3..]),
        Some("jkt") if args.len() == 3 => {
            public_jwk(Path::new(&args[1]), &args[2]).and_then(|j| {
                println!("{}", jkt_of(&j)?);
                Ok(())
            })
        }
        Some("eckey") if args.len() == 3 => eckey(Path::new(&args[1]), &args[2]),
        Some("time") if args.len() >= 4 => time_cmd(Path::new(&args[1]), &args[2], &args[3..]),
        _ => Err(
            "usage: jwt-mint keygen DIR [BITS] | jwt-mint sign DIR KEY [options] | jwt-mint proof DIR KEY [options] | jwt-mint jkt DIR KEY | jwt-mint eckey DIR NAME | jwt-mint time JWKS N TOKEN..."
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jwt-mint: {e}");
            ExitCode::FAILURE
        }
    }
}

type Res<T> = Result<T, String>;

fn write(path: PathBuf, data: &[u8]) -> Res<()> {
    fs::write(&path, data).map_err(|e| format!("{}: {e}", path.display()))
}

fn keygen(dir: &Path, rsa_bits: usize) -> Res<()> {
    fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let rng = SystemRandom::new();
    let mut jwks = Vec::new();
    for name in ["rsa", "rsa2"] {
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), rsa_bits).map_err(|e| e.to_string())?;
        let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
        write(dir.join(format!("{name}.pk8")), der.as_bytes())?;
        let public = key.to_public_key();
        let pub_der = rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_der(&public).map_err(|e| e.to_string())?;
        write(dir.join(format!("{name}.pub.der")), pub_der.as_bytes())?;
        let pem = rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_pem(&public, rsa::pkcs1::LineEnding::LF)
            .map_err(|e| e.to_string())?;
        write(dir.join(format!("{name}.pub.pem")), pem.as_bytes())?;
        let jwk = json!({"kty": "RSA", "kid": name, "use": "sig", "alg": "RS256",
            "n": b64::encode(&public.n().to_bytes_be()), "e": b64::encode(&public.e().to_bytes_be())});
        write(dir.join(format!("{name}.jwk.json")), jwk.to_string().as_bytes())?;
        if name == "rsa" {
            jwks.push(jwk);
        }
    }
    let pk8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|e| e.to_string())?;
    let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pk8.as_ref(), &rng)
        .map_err(|e| e.to_string())?;
    let p = pair.public_key().as_ref();
    write(dir.join("ec.pk8"), pk8.as_ref())?;
    jwks.push(json!({"kty": "EC", "kid": "ec", "crv": "P-256", "x": b64::encode(&p[1..33]), "y": b64::encode(&p[33..])}));
    let pk8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| e.to_string())?;
    let pair = Ed25519KeyPair::from_pkcs8(pk8.as_ref()).map_err(|e| e.to_string())?;
    write(dir.join("ed.pk8"), pk8.as_ref())?;
    jwks.push(
        json!({"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64::encode(pair.public_key().as_ref())}),
    );
    write(
        dir.join("jwks.json"),
        json!({"keys": jwks}).to_string().as_bytes(),
    )?;
    // Not in jwks.json (whose kids the tests rely on): a P-384 key, and a set for every
    // asymmetric algorithm.
    let pk8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
        .map_err(|e| e.to_string())?;
    let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, pk8.as_ref(), &rng)
        .map_err(|e| e.to_string())?;
    let p = pair.public_key().as_ref();
    write(dir.join("ec384.pk8"), pk8.as_ref())?;
    let ec384 = json!({"kty": "EC", "kid": "ec384", "crv": "P-384", "x": b64::encode(&p[1..49]), "y": b64::encode(&p[49..])});
    write(dir.join("ec384.jwk.json"), ec384.to_string().as_bytes())?;
    let mut ps = jwks[0].clone();
    ps["kid"] = json!("rsa-ps");
    ps["alg"] = json!("PS256");
    let all = vec![jwks[0].clone(), ps, jwks[1].clone(), ec384, jwks[2].clone()];
    write(
        dir.join("jwks-algs.json"),
        json!({"keys": all}).to_string().as_bytes(),
    )?;
    // 64 bytes: long enough for HS512 (RFC 7518 §3.2), so one oct key serves HS256/384/512.
    let mut secret = [0u8; 64];
    ring::rand::SecureRandom::fill(&rng, &mut secret).map_err(|e| e.to_string())?;
    write(dir.join("oct.secret"), &secret)?;
    let oct = json!({"keys": [{"kty": "oct", "kid": "oct", "k": b64::encode(&secret)}]});
    write(dir.join("jwks-oct.json"), oct.to_string().as_bytes())?;
    Ok(())
}

struct Opts {
    alg: Option<String>,
    kid: Option<Option<String>>,
    header: Option<String>,
    claims: Map<String, Value>,
    secret_file: Option<String>,
    unsigned: bool,
    corrupt: bool,
    truncate: bool,
    strip_leading_zero: bool,
    count: usize,
    cnf_cert: Option<String>,
    cnf_jkt: Option<String>,
    typ: String,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn parse_opts(args: &[String]) -> Res<Opts> {
    let t = now();
    let mut claims = json!({"sub": "peer-test", "identifier": "11111111-2222-3333-4444-555555555555",
        "iat": t, "exp": t + 3600});
    let claims_map = claims.as_object_mut().ok_or("claims")?;
    let mut o = Opts {
        alg: None,
        kid: None,
        header: None,
        claims: std::mem::take(claims_map),
        secret_file: None,
        unsigned: false,
        corrupt: false,
        truncate: false,
        strip_leading_zero: false,
        count: 1,
        cnf_cert: None,
        cnf_jkt: None,
        typ: "JWT".into(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or_else(|| format!("{a} needs a value"));
        let secs = |v: String| v.parse::<i64>().map_err(|_| format!("{a}: not a number"));
        match a.as_str() {
            "--alg" => o.alg = Some(val()?),
            "--kid" => o.kid = Some(Some(val()?)),
            "--no-kid" => o.kid = Some(None),
            "--header" => o.header = Some(val()?),
            "--claims" => {
                let v: Value = serde_json::from_str(&val()?).map_err(|e| format!("--claims: {e}"))?;
                for (k, v) in v.as_object().ok_or("--claims must be an object")? {
                    o.claims.insert(k.clone(), v.clone());
                }
            }
            "--exp" => {
                let s = secs(val()?)?;
                o.claims.insert("exp".into(), json!(t + s));
            }
            "--no-exp" => {
                o.claims.remove("exp");
            }
            "--no-iat" => {
                o.claims.remove("iat");
            }
            "--nbf" => {
                let s = secs(val()?)?;
                o.claims.insert("nbf".into(), json!(t + s));
            }
            "--secret-file" => o.secret_file = Some(val()?),
            "--unsigned" => o.unsigned = true,
            "--corrupt" => o.corrupt = true,
            "--truncate" => o.truncate = true,
            "--strip-leading-zero" => o.strip_leading_zero = true,
            "--count" => o.count = val()?.parse().map_err(|_| "--count: not a number")?,
            "--cnf-cert" => o.cnf_cert = Some(val()?),
            "--cnf-jkt" => o.cnf_jkt = Some(val()?),
            "--typ" => o.typ = val()?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if let Some(file) = &o.cnf_cert {
        let pem = fs::read(file).map_err(|e| format!("{file}: {e}"))?;
        let x5t = binding::thumbprint_from_pem(&pem).map_err(|e| format!("--cnf-cert {file}: {e}"))?;
        o.claims.insert("cnf".into(), json!({ "x5t#S256": x5t }));
    }
    Ok(o)
}

fn sign_cmd(dir: &Path, key: &str, args: &[String]) -> Res<()> {
    let mut o = parse_opts(args)?;
    if let Some(k) = &o.cnf_jkt {
        let jkt = jkt_of(&public_jwk(dir, k)?)?;
        o.claims.insert("cnf".into(), json!({ "jkt": jkt }));
    }
    let secret = match (&o.secret_file, key) {
        (Some(f), _) => Some(fs::read(f).map_err(|e| format!("{f}: {e}"))?),
        (None, "oct") => Some(fs::read(dir.join("oct.secret")).map_err(|e| e.to_string())?),
        _ => None,
    };
    let default_alg = match key {
        _ if secret.is_some() => "HS256",
        k if k.starts_with("rsa") => "RS256",
        "ec384" => "ES384",
        k if k.starts_with("ec") => "ES256",
        "ed" => "EdDSA",
        _ => return Err(format!("unknown key {key}")),
    };
    let alg = o.alg.clone().unwrap_or_else(|| default_alg.to_owned());
    let kid = o.kid.clone().unwrap_or_else(|| Some(key.to_owned()));
    let header = match &o.header {
        Some(h) => h.clone(),
        None => {
            let mut h = json!({"alg": alg, "typ": o.typ});
            if let Some(k) = kid {
                h["kid"] = json!(k);
            }
            h.to_string()
        }
    };
    let mut out = String::new();
    for i in 0..o.count {
        let mut claims = o.claims.clone();
        if o.count > 1 {
            claims.insert("jti".into(), json!(format!("{i}")));
        }
        let mut tries = 0u32;
        let (input, mut sig) = loop {
            if o.strip_leading_zero {
                claims.insert("try".into(), json!(tries));
            }
            let input = format!(
                "{}.{}",
                b64::encode(header.as_bytes()),
                b64::encode(Value::Object(claims.clone()).to_string().as_bytes())
            );
            let sig = if o.unsigned {
                Vec::new()
            } else {
                signature(dir, key, &alg, secret.as_deref(), input.as_bytes())?
            };
            if !o.strip_leading_zero || sig.first() == Some(&0) {
                break (input, sig);
            }
            tries += 1;
            if tries == 100_000 {
                return Err("--strip-leading-zero: no signature with a leading zero byte".into());
            }
        };
        if o.strip_leading_zero {
            sig.remove(0);
        }
        if o.truncate {
            sig.pop();
        }
        if o.corrupt {
            let mid = sig.len() / 2;
            if let Some(b) = sig.get_mut(mid) {
                *b ^= 1;
            }
        }
        out.push_str(&input);
        out.push('.');
        out.push_str(&b64::encode(&sig));
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}

fn signature(dir: &Path, key: &str, alg: &str, secret: Option<&[u8]>, input: &[u8]) -> Res<Vec<u8>> {
    let rng = SystemRandom::new();
    if let Some(secret) = secret {
        let h = match alg {
            "HS384" => ring::hmac::HMAC_SHA384,
            "HS512" => ring::hmac::HMAC_SHA512,
            _ => ring::hmac::HMAC_SHA256,
        };
        return Ok(ring::hmac::sign(&ring::hmac::Key::new(h, secret), input)
            .as_ref()
            .to_vec());
    }
    let pk8 = fs::read(dir.join(format!("{key}.pk8"))).map_err(|e| format!("{key}.pk8: {e}"))?;
    match key {
        "ec384" => {
            let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &pk8, &rng)
                .map_err(|e| e.to_string())?;
            Ok(pair
                .sign(&rng, input)
                .map_err(|e| e.to_string())?
                .as_ref()
                .to_vec())
        }
        k if k.starts_with("ec") => {
            let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &pk8, &rng)
                .map_err(|e| e.to_string())?;
            Ok(pair
                .sign(&rng, input)
                .map_err(|e| e.to_string())?
                .as_ref()
                .to_vec())
        }
        "ed" => {
            let pair = Ed25519KeyPair::from_pkcs8(&pk8).map_err(|e| e.to_string())?;
            Ok(pair.sign(input).as_ref().to_vec())
        }
        _ => {
            let pair = RsaKeyPair::from_pkcs8(&pk8).map_err(|e| e.to_string())?;
            let enc: &'static dyn signature::RsaEncoding = match alg {
                "RS384" => &signature::RSA_PKCS1_SHA384,
                "RS512" => &signature::RSA_PKCS1_SHA512,
                "PS256" => &signature::RSA_PSS_SHA256,
                "PS384" => &signature::RSA_PSS_SHA384,
                "PS512" => &signature::RSA_PSS_SHA512,
                _ => &signature::RSA_PKCS1_SHA256,
            };
            let mut sig = vec![0; pair.public().modulus_len()];
            pair.sign(enc, &rng, input, &mut sig).map_err(|e| e.to_string())?;
            Ok(sig)
        }
    }
}

/// `jwt-mint eckey DIR NAME`: a further P-256 key pair.
fn eckey(dir: &Path, name: &str) -> Res<()> {
    let rng = SystemRandom::new();
    let pk8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|e| e.to_string())?;
    write(dir.join(format!("{name}.pk8")), pk8.as_ref())
}

/// The public JWK of DIR/KEY (EC P-256 or P-384, Ed25519, or RSA from KEY.jwk.json).
fn public_jwk(dir: &Path, key: &str) -> Res<Value> {
    let rng = SystemRandom::new();
    if key.starts_with("rsa") {
        let text =
            fs::read(dir.join(format!("{key}.jwk.json"))).map_err(|e| format!("{key}.jwk.json: {e}"))?;
        let v: Value = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
        return Ok(json!({"kty": "RSA", "n": v["n"], "e": v["e"]}));
    }
    let pk8 = fs::read(dir.join(format!("{key}.pk8"))).map_err(|e| format!("{key}.pk8: {e}"))?;
    if key == "ed" {
        let pair = Ed25519KeyPair::from_pkcs8(&pk8).map_err(|e| e.to_string())?;
        return Ok(json!({"kty": "OKP", "crv": "Ed25519", "x": b64::encode(pair.public_key().as_ref())}));
    }
    let (alg, crv, n) = if key == "ec384" {
        (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48)
    } else {
        (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32)
    };
    let pair = EcdsaKeyPair::from_pkcs8(alg, &pk8, &rng).map_err(|e| e.to_string())?;
    let p = pair.public_key().as_ref();
    Ok(json!({"kty": "EC", "crv": crv, "x": b64::encode(&p[1..1 + n]), "y": b64::encode(&p[1 + n..])}))
}

fn jkt_of(jwk: &Value) -> Res<String> {
    jwt_peer_auth_core::dpop::thumbprint(jwk.as_object().ok_or("jwk")?).map_err(str::to_owned)
}

/// `jwt-mint proof DIR KEY [options]`: DPoP proofs, good or broken.
fn proof_cmd(dir: &Path, key: &str, args: &[String]) -> Res<()> {
    let mut header = Map::new();
    let mut claims = Map::new();
    let (mut htu, mut htm, mut ath, mut jti, mut nonce) = (None, "GET".to_owned(), None, None, None);
    let (mut iat, mut no_iat, mut typ, mut alg) = (0i64, false, Some("dpop+jwt".to_owned()), None);
    let (mut jwk_of, mut jwk_private, mut no_jwk, mut corrupt, mut count) =
        (None, false, false, false, 1usize);
    let (mut extra_h, mut extra_c) = (Map::new(), Map::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or_else(|| format!("{a} needs a value"));
        let obj = |v: String| -> Res<Map<String, Value>> {
            match serde_json::from_str::<Value>(&v) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(format!("{a}: not a JSON object")),
            }
        };
        match a.as_str() {
            "--htu" => htu = Some(val()?),
            "--htm" => htm = val()?,
            "--token" => ath = Some(jwt_peer_auth_core::dpop::ath(val()?.as_bytes())),
            "--ath" => ath = Some(val()?),
            "--jti" => jti = Some(val()?),
            "--count" => count = val()?.parse().map_err(|_| "--count: not a number")?,
            "--iat" => iat = val()?.parse().map_err(|_| "--iat: not a number")?,
            "--no-iat" => no_iat = true,
            "--nonce" => nonce = Some(val()?),
            "--alg" => alg = Some(val()?),
            "--typ" => typ = Some(val()?),
            "--no-typ" => typ = None,
            "--jwk-of" => jwk_of = Some(val()?),
            "--jwk-private" => jwk_private = true,
            "--no-jwk" => no_jwk = true,
            "--header" => extra_h = obj(val()?)?,
            "--claims" => extra_c = obj(val()?)?,
            "--corrupt" => corrupt = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    let htu = htu.ok_or("proof: --htu is required")?;
    let default_alg = match key {
        k if k.starts_with("rsa") => "RS256",
        "ec384" => "ES384",
        "ed" => "EdDSA",
        _ => "ES256",
    };
    let alg = alg.unwrap_or_else(|| default_alg.to_owned());
    if let Some(t) = typ {
        header.insert("typ".into(), json!(t));
    }
    header.insert("alg".into(), json!(alg));
    if !no_jwk {
        let mut jwk = public_jwk(dir, jwk_of.as_deref().unwrap_or(key))?;
        if jwk_private {
            jwk["d"] = json!("AAAA");
        }
        header.insert("jwk".into(), jwk);
    }
    header.extend(extra_h);
    let header = Value::Object(header).to_string();
    claims.insert("htm".into(), json!(htm));
    claims.insert("htu".into(), json!(htu));
    if !no_iat {
        claims.insert("iat".into(), json!(now() + iat));
    }
    if let Some(a) = ath {
        claims.insert("ath".into(), json!(a));
    }
    if let Some(n) = nonce {
        claims.insert("nonce".into(), json!(n));
    }
    let mut out = String::new();
    for _ in 0..count {
        let mut c = claims.clone();
        let j = match &jti {
            Some(j) if count == 1 => j.clone(),
            _ => {
                let mut r = [0u8; 16];
                ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut r).map_err(|e| e.to_string())?;
                b64::encode(&r)
            }
        };
        c.insert("jti".into(), json!(j));
        c.extend(extra_c.clone());
        let input = format!(
            "{}.{}",
            b64::encode(header.as_bytes()),
            b64::encode(Value::Object(c).to_string().as_bytes())
        );
        let mut sig = signature(dir, key, &alg, None, input.as_bytes())?;
        if corrupt {
            let mid = sig.len() / 2;
            sig[mid] ^= 1;
        }
        out.push_str(&input);
        out.push('.');
        out.push_str(&b64::encode(&sig));
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}

/// This thread's CPU time in nanoseconds (CLOCK_THREAD_CPUTIME_ID: exact, unlike the
/// tick-granular /proc schedstat).
fn cpu_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// For each of `fs`, the best of 5 rounds of at least `n` calls (and at least 50 ms of CPU
/// each), in µs of CPU per call. The rounds of the functions alternate, so that a change of
/// load on a shared machine weighs on all of them alike.
fn best_us(n: u32, fs: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let mut best = vec![f64::INFINITY; fs.len()];
    for _ in 0..5 {
        for (f, best) in fs.iter_mut().zip(&mut best) {
            let t0 = cpu_ns();
            let mut calls = 0u64;
            // The clock is a system call: read it every 8 calls only.
            while calls < u64::from(n) || cpu_ns() - t0 < 50_000_000 {
                for _ in 0..8 {
                    f();
                }
                calls += 8;
            }
            let us = (cpu_ns() - t0) as f64 / 1000.0 / calls as f64;
            *best = best.min(us);
        }
    }
    best
}

/// `jwt-mint time JWKS N TOKEN...`: per token, "ALG KID ring_us verify_us RESULT openssl_us
/// openssl_verify_us" (the last two "-" unless the key is RSA).
fn time_cmd(jwks: &Path, n: &str, tokens: &[String]) -> Res<()> {
    use jwt_peer_auth_core::verify::verify_signature;
    use jwt_peer_auth_core::{verify, Algorithm, KeySet, Policy};
    let n: u32 = n.parse().map_err(|_| "N: not a number")?;
    let text = fs::read(jwks).map_err(|e| format!("{}: {e}", jwks.display()))?;
    let set = KeySet::parse(&text).map_err(|e| format!("{}: {e:?}", jwks.display()))?;
    // The same keys, RSA ones with OpenSSL's arithmetic (as the module loads them).
    let mut ossl_set = KeySet::parse(&text).map_err(|e| format!("{}: {e:?}", jwks.display()))?;
    ossl::attach(&mut ossl_set);
    let policy = Policy::default();
    let now = now();
    println!("alg kid ring_us verify_us result openssl_us openssl_verify_us");
    for token in tokens {
        let mut parts = token.split('.');
        let (Some(h), Some(_), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("not a compact JWS: {token}"));
        };
        let header: Value = serde_json::from_slice(&b64::decode(h.as_bytes()).map_err(|_| "header base64")?)
            .map_err(|e| format!("header: {e}"))?;
        let alg = header["alg"]
            .as_str()
            .and_then(Algorithm::from_name)
            .ok_or("header: no known alg")?;
        let kid = header["kid"].as_str().ok_or("header: no kid")?;
        let find = |set: &KeySet| {
            set.keys
                .iter()
                .position(|k| k.kid.as_deref() == Some(kid) && k.fits(alg))
        };
        let i = find(&set).ok_or_else(|| format!("no key {kid} for {alg}"))?;
        let (key, ossl_key) = (&set.keys[i], &ossl_set.keys[i]);
        let sig = b64::decode(sig.as_bytes()).map_err(|_| "signature base64")?;
        let input = &token.as_bytes()[..token.rfind('.').unwrap_or(0)];
        let result = match verify(token.as_bytes(), &[&set], &policy, now) {
            Ok(_) => "ok".to_owned(),
            Err(r) => r.reason.word().to_owned(),
        };
        let ring = || {
            std::hint::black_box(verify_signature(key, alg, std::hint::black_box(input), &sig));
        };
        let core = || {
            let _ = std::hint::black_box(verify(
                std::hint::black_box(token.as_bytes()),
                &[&set],
                &policy,
                now,
            ));
        };
        let Some(math) = ossl_key.rsa_math() else {
            let us = best_us(n, &mut [&mut { ring }, &mut { core }]);
            println!("{alg} {kid} {:.2} {:.2} {result} - -", us[0], us[1]);
            continue;
        };
        // OpenSSL must itself give ring's verdict (not fail and leave it to ring). A signature
        // of another length never reaches the arithmetic: the core refuses it.
        let agrees = {
            let digest = match alg {
                Algorithm::RS384 | Algorithm::PS384 => &ring::digest::SHA384,
                Algorithm::RS512 | Algorithm::PS512 => &ring::digest::SHA512,
                _ => &ring::digest::SHA256,
            };
            let digest = ring::digest::digest(digest, input);
            let openssl = sig.len() == modulus_len(key)
                && math
                    .verify_digest(alg, digest.as_ref(), &sig)
                    .map_err(|_| format!("{kid} {alg}: OpenSSL could not verify"))?;
            openssl == verify_signature(key, alg, input, &sig)
        };
        if !agrees {
            return Err(format!("{kid} {alg}: OpenSSL and ring disagree"));
        }
        let openssl = || {
            std::hint::black_box(verify_signature(ossl_key, alg, std::hint::black_box(input), &sig));
        };
        let openssl_core = || {
            let _ = std::hint::black_box(verify(
                std::hint::black_box(token.as_bytes()),
                &[&ossl_set],
                &policy,
                now,
            ));
        };
        let us = best_us(
            n,
            &mut [&mut { ring }, &mut { core }, &mut { openssl }, &mut {
                openssl_core
            }],
        );
        let [ring_us, verify_us, openssl_us, openssl_verify_us] = [us[0], us[1], us[2], us[3]];
        println!("{alg} {kid} {ring_us:.2} {verify_us:.2} {result} {openssl_us:.2} {openssl_verify_us:.2}");
    }
    Ok(())
}

/// The modulus length of an RSA key (0 for others).
fn modulus_len(key: &jwt_peer_auth_core::jwk::Jwk) -> usize {
    match &key.material {
        jwt_peer_auth_core::jwk::KeyMaterial::Rsa(c) => c.n.len(),
        _ => 0,
    }
}
