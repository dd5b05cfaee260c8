// A real OpenID Provider (panva's oidc-provider, from npm) on 127.0.0.1 for
// t/040-discovery-provider.t and t/044-dpop-provider.t: it publishes its discovery document and
// key set and issues RS256 JWT access tokens with the client_credentials grant and a resource
// indicator.
//
//   node provider.mjs PORT STATE_DIR [rotate | replace] [dpop]
//
// The signing keys are kept in STATE_DIR/keys.json (private JWKs, the first one signs). Without
// that file one RSA key is made; with `rotate` a new RSA key is put first (the old ones stay
// published after it); with `replace` a new RSA key replaces them all. With `dpop` the client
// must prove possession of a key (RFC 9449) at the token endpoint: the provider's DPoP feature
// is on, the client is registered with dpop_bound_access_tokens, and every access token it gets
// is bound to the proof's key (`cnf.jkt`, the provider's own RFC 7638 thumbprint); a token
// request without a DPoP proof is refused. The issuer is http://127.0.0.1:PORT; client "peer",
// secret "peer-secret"; resource https://tunnel.test. Prints "listening" once it answers.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const [port, dir, ...options] = process.argv.slice(2);
if (!port || !dir) {
  console.error('usage: node provider.mjs PORT STATE_DIR [rotate | replace] [dpop]');
  process.exit(2);
}
const dpop = options.includes('dpop');
const actions = options.filter((o) => o !== 'dpop');
if (actions.length > 1) {
  console.error(`one of rotate and replace, not ${actions.join(' and ')}`);
  process.exit(2);
}
const [action] = actions;

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };
}

mkdirSync(dir, { recursive: true });
const file = `${dir}/keys.json`;
let keys = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : [newKey()];
if (action === 'rotate') keys = [newKey(), ...keys];
else if (action === 'replace') keys = [newKey()];
else if (action) {
  console.error(`unknown action ${action}`);
  process.exit(2);
}
writeFileSync(file, JSON.stringify(keys));

const RESOURCE = 'https://tunnel.test';
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'peer',
      client_secret: 'peer-secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'tunnel',
      ...(dpop ? { dpop_bound_access_tokens: true } : {}),
    },
  ],
  jwks: { keys },
  scopes: ['tunnel'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    ...(dpop ? { dPoP: { enabled: true } } : {}),
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (resource !== RESOURCE) throw new Error(`unknown resource ${resource}`);
        return {
          scope: 'tunnel',
          audience: RESOURCE,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`listening on ${issuer} with kids ${keys.map((k) => k.kid).join(' ')}${dpop ? ', DPoP-bound tokens' : ''}`);
});
