//! Test keys and tokens, made at test time: RSA (rsa crate), EC P-256/P-384 and Ed25519 (ring),
//! signed with `jsonwebtoken` (an independent JOSE implementation) or by hand for hostile cases.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use jwt_peer_auth_core::b64;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

pub struct TestKey {
    pub kid: &'static str,
    pub alg: jsonwebtoken::Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Value,
    /// For RSA: the public key in DER forms, to forge HS256 tokens with the public key as secret.
    pub public_der: Vec<u8>,
    /// For RSA: the PKCS#1 private key, to sign hand-made headers.
    pub private_der: Vec<u8>,
}

fn rsa_key(kid: &'static str, alg: jsonwebtoken::Algorithm) -> TestKey {
    let mut rng = rand::thread_rng();
    let key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("rsa keygen");
    let der = key.to_pkcs1_der().expect("pkcs1 der");
    let public = key.to_public_key();
    let public_der = rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_der(&public)
        .unwrap()
        .as_bytes()
        .to_vec();
    let jwk = json!({
        "kty": "RSA", "kid": kid, "use": "sig",
        "n": b64::encode(&public.n().to_bytes_be()),
        "e": b64::encode(&public.e().to_bytes_be()),
    });
    TestKey {
        kid,
        alg,
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk,
        public_der,
        private_der: der.as_bytes().to_vec(),
    }
}

fn ec_key(kid: &'static str, p384: bool) -> TestKey {
    let rng = SystemRandom::new();
    let (signing, crv, size, alg) = if p384 {
        (
            &ECDSA_P384_SHA384_FIXED_SIGNING,
            "P-384",
            48,
            jsonwebtoken::Algorithm::ES384,
        )
    } else {
        (
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            "P-256",
            32,
            jsonwebtoken::Algorithm::ES256,
        )
    };
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let jwk = json!({
        "kty": "EC", "kid": kid, "crv": crv,
        "x": b64::encode(&point[1..1 + size]), "y": b64::encode(&point[1 + size..]),
    });
    TestKey {
        kid,
        alg,
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk,
        public_der: point.to_vec(),
        private_der: vec![],
    }
}

fn ed_key(kid: &'static str) -> TestKey {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let jwk =
        json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64::encode(pair.public_key().as_ref())});
    TestKey {
        kid,
        alg: jsonwebtoken::Algorithm::EdDSA,
        encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
        jwk,
        public_der: pair.public_key().as_ref().to_vec(),
        private_der: vec![],
    }
}

pub struct Keys {
    pub rsa: TestKey,
    pub rsa_other: TestKey,
    pub es256: TestKey,
    pub es384: TestKey,
    pub ed: TestKey,
    pub hmac_secret: Vec<u8>,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: rsa_key("rsa-1", jsonwebtoken::Algorithm::RS256),
        rsa_other: rsa_key("rsa-2", jsonwebtoken::Algorithm::RS256),
        es256: ec_key("ec-1", false),
        es384: ec_key("ec-384", true),
        ed: ed_key("ed-1"),
        // 64 bytes: long enough for HS512 (RFC 7518 §3.2), so the set's oct key fits every HS alg.
        hmac_secret: b"0123456789abcdef".repeat(4),
    })
}

pub fn jwks(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A token signed by `key` with `alg`, its kid in the header, and `claims`.
pub fn sign_as(key: &TestKey, alg: jsonwebtoken::Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&h, claims, &key.encoding).expect("sign")
}

pub fn sign(key: &TestKey, claims: &Value) -> String {
    sign_as(key, key.alg, Some(key.kid), claims)
}

pub fn good_claims() -> Value {
    json!({"sub": "peer-1", "identifier": "11111111-2222-3333-4444-555555555555", "iat": now(), "exp": now() + 3600})
}

/// Assembles a token from raw header/payload JSON and a raw signature, for hostile cases.
pub fn raw(header: &str, payload: &str, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64::encode(header.as_bytes()),
        b64::encode(payload.as_bytes()),
        b64::encode(sig)
    )
}

/// HS256 over `header.payload` with `secret`.
pub fn hs256(header: &str, payload: &str, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        b64::encode(header.as_bytes()),
        b64::encode(payload.as_bytes())
    );
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
        input.as_bytes(),
    );
    format!("{input}.{}", b64::encode(tag.as_ref()))
}

/// RS256 (or PS256 with `pss`) over hand-made header and payload JSON.
pub fn rsa_raw(key: &TestKey, header: &str, payload: &str, pss: bool) -> String {
    let pair = ring::signature::RsaKeyPair::from_der(&key.private_der).expect("rsa der");
    let input = format!(
        "{}.{}",
        b64::encode(header.as_bytes()),
        b64::encode(payload.as_bytes())
    );
    let mut sig = vec![0; pair.public().modulus_len()];
    let padding: &dyn ring::signature::RsaEncoding = if pss {
        &ring::signature::RSA_PSS_SHA256
    } else {
        &ring::signature::RSA_PKCS1_SHA256
    };
    pair.sign(padding, &SystemRandom::new(), input.as_bytes(), &mut sig)
        .expect("rsa sign");
    format!("{input}.{}", b64::encode(&sig))
}
