// Independent OIDC issuers for the federation tests: `node issuer.mjs N` starts N
// oauth2-mock-server instances on free ports of 127.0.0.1, each with an RS256 and an
// ES256 key, and prints one JSON line: {"issuers": [url, ...]}. Each also serves
//   POST /test/mint   {claims, kid?, alg?, expires_in?, header?, unset?} -> {token}
//   POST /test/rotate {alg?}                                           -> {kid}
// so that a test can mint tokens shaped like GitHub Actions', GitLab CI's or a
// Kubernetes service account's, and rotate the signing key.
import { OAuth2Server } from 'oauth2-mock-server';

const count = Number(process.argv[2] || '1');
const servers = [];

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

for (let i = 0; i < count; i++) {
  const server = new OAuth2Server();
  const keys = { RS256: [], ES256: [] };
  keys.RS256.push((await server.issuer.keys.generate('RS256')).kid);
  keys.ES256.push((await server.issuer.keys.generate('ES256')).kid);
  server.service.addRoute('POST', '/test/mint', async (req, res) => {
    const body = req.body || {};
    const alg = body.alg || 'RS256';
    const kid = body.kid || keys[alg][keys[alg].length - 1];
    const token = await server.issuer.buildToken({
      kid,
      expiresIn: body.expires_in ?? 300,
      scopesOrTransform: (header, payload) => {
        Object.assign(payload, body.claims || {});
        for (const name of body.unset || []) delete payload[name];
        Object.assign(header, body.header || {});
      },
    });
    json(res, 200, { token });
  });
  server.service.addRoute('POST', '/test/rotate', async (req, res) => {
    const alg = (req.body && req.body.alg) || 'RS256';
    const key = await server.issuer.keys.generate(alg);
    keys[alg].push(key.kid);
    json(res, 200, { kid: key.kid });
  });
  await server.start(0, '127.0.0.1');
  server.issuer.url = `http://127.0.0.1:${server.address().port}`;
  servers.push(server);
}

console.log(JSON.stringify({ issuers: servers.map((s) => s.issuer.url) }));
const stop = async () => { for (const s of servers) await s.stop(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
