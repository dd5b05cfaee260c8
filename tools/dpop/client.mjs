// An independent DPoP client for t/038-dpop-interop.t: proofs made by panva's `dpop`, keys
// handled by `jose` (neither written here).
//
//   node client.mjs keygen ALG FILE   a key pair for ALG (ES256, PS256, RS256, Ed25519), saved as
//                                     a private JWK in FILE; prints the key's RFC 7638
//                                     thumbprint (jose's calculateJwkThumbprint)
//   node client.mjs proof FILE HTM HTU TOKEN [NONCE]
//                                     prints a proof made by dpop's generateProof
import { readFileSync, writeFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';

// Node 18 (Debian bookworm's) has WebCrypto, but not yet as the global `crypto` dpop uses.
globalThis.crypto ??= webcrypto;
const dpop = await import('dpop');
const jose = await import('jose');

// The WebCrypto parameters of each algorithm dpop supports.
const WEBCRYPTO = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  Ed25519: { name: 'Ed25519' },
};

const [cmd, ...args] = process.argv.slice(2);

async function main() {
  if (cmd === 'keygen') {
    const [alg, file] = args;
    const pair = await dpop.generateKeyPair(alg, { extractable: true });
    const priv = await crypto.subtle.exportKey('jwk', pair.privateKey);
    const pub = await crypto.subtle.exportKey('jwk', pair.publicKey);
    writeFileSync(file, JSON.stringify({ alg, priv, pub }), { mode: 0o600 });
    const jkt = await jose.calculateJwkThumbprint(pub, 'sha256');
    // The same thumbprint by dpop's own code: the two libraries agree.
    if (jkt !== (await dpop.calculateThumbprint(pair.publicKey))) throw new Error('thumbprints differ');
    process.stdout.write(`${jkt}\n`);
  } else if (cmd === 'proof') {
    const [file, htm, htu, token, nonce] = args;
    const { alg, priv, pub } = JSON.parse(readFileSync(file, 'utf8'));
    const params = WEBCRYPTO[alg];
    const privateKey = await crypto.subtle.importKey('jwk', priv, params, false, ['sign']);
    const publicKey = await crypto.subtle.importKey('jwk', pub, params, true, ['verify']);
    const proof = await dpop.generateProof({ privateKey, publicKey }, htu, htm, nonce || undefined, token);
    process.stdout.write(`${proof}\n`);
  } else {
    throw new Error('usage: client.mjs keygen ALG FILE | proof FILE HTM HTU TOKEN [NONCE]');
  }
}

main().catch((e) => {
  process.stderr.write(`client.mjs: ${e.stack || e}\n`);
  process.exit(1);
});
