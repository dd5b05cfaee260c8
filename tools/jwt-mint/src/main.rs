//! `jwt-mint`: key pairs, a JWKS, and tokens for the demo, the tests and the benchmark.
//!
//! ```text
//! jwt-mint keygen DIR               RSA (x2), EC P-256, Ed25519 key pairs, a shared secret,
//!                                   DIR/jwks.json (public keys) and DIR/jwks-oct.json
//! jwt-mint sign DIR KEY [options]   print a token signed with DIR/KEY.pk8 (or KEY.secret)
//!   --alg ALG          default: RS256 for RSA, ES256, EdDSA, HS256
//!   --kid KID          default: KEY; --no-kid leaves it out
//!   --header JSON      use this exact header JSON instead
//!   --claims JSON      merged over the defaults (sub, identifier, iat, exp)
//!   --exp SECS         exp = now + SECS (may be negative); --no-exp leaves it out
//!   --nbf SECS         nbf = now + SECS
//!   --secret-file F    HMAC with the bytes of F as secret (forging tests)
//!   --unsigned         empty signature
//!   --corrupt          flip a bit of the signature
//!   --count N          print N distinct tokens, one a line (adds a "jti")
//!   --cnf-cert FILE    bind the token to the PEM certificate in FILE (RFC 8705 §3.1): adds
//!                      "cnf": {"x5t#S256": "<base64url SHA-256 of its DER>"}; applied after
//!                      --claims, so it replaces any "cnf" given there
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use jwt_peer_auth_core::{b64, binding};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Map, Value};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("keygen") if args.len() == 2 => keygen(Path::new(&args[1])),
        Some("sign") if args.len() >= 3 => sign_cmd(Path::new(&args[1]), &args[2], &args[3..]),
        _ => Err("usage: jwt-mint keygen DIR | jwt-mint sign DIR KEY [options]".into()),
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

fn keygen(dir: &Path) -> Res<()> {
    fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let rng = SystemRandom::new();
    let mut jwks = Vec::new();
    for name in ["rsa", "rsa2"] {
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(|e| e.to_string())?;
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
    count: usize,
    cnf_cert: Option<String>,
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
        count: 1,
        cnf_cert: None,
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
            "--nbf" => {
                let s = secs(val()?)?;
                o.claims.insert("nbf".into(), json!(t + s));
            }
            "--secret-file" => o.secret_file = Some(val()?),
            "--unsigned" => o.unsigned = true,
            "--corrupt" => o.corrupt = true,
            "--count" => o.count = val()?.parse().map_err(|_| "--count: not a number")?,
            "--cnf-cert" => o.cnf_cert = Some(val()?),
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
    let o = parse_opts(args)?;
    let secret = match (&o.secret_file, key) {
        (Some(f), _) => Some(fs::read(f).map_err(|e| format!("{f}: {e}"))?),
        (None, "oct") => Some(fs::read(dir.join("oct.secret")).map_err(|e| e.to_string())?),
        _ => None,
    };
    let default_alg = match key {
        _ if secret.is_some() => "HS256",
        k if k.starts_with("rsa") => "RS256",
        "ec" => "ES256",
        "ed" => "EdDSA",
        _ => return Err(format!("unknown key {key}")),
    };
    let alg = o.alg.clone().unwrap_or_else(|| default_alg.to_owned());
    let kid = o.kid.clone().unwrap_or_else(|| Some(key.to_owned()));
    let header = match &o.header {
        Some(h) => h.clone(),
        None => {
            let mut h = json!({"alg": alg, "typ": "JWT"});
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
        let input = format!(
            "{}.{}",
            b64::encode(header.as_bytes()),
            b64::encode(Value::Object(claims).to_string().as_bytes())
        );
        let mut sig = if o.unsigned {
            Vec::new()
        } else {
            signature(dir, key, &alg, secret.as_deref(), input.as_bytes())?
        };
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
        "ec" => {
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
