// A real OpenID provider process for the federation tests: oauth2-mock-server's discovery document, JWKS and token
// endpoint, plus two test controls: POST /control/token mints a token with the claims (and header fields) asked for,
// signed by the provider's key; POST /control/rotate adds a new signing key (the JWKS then lists both); POST
// /control/next-user sets who signs in through the authorization endpoint (code flow with PKCE, as the web console
// does): the claims of the access token the code is exchanged for (its audience is the client id).
// Prints {"issuer": "..."} on its first line of output once it listens.
import http from 'node:http';
import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

const alg = process.argv[2] ?? 'RS256';
const issuer = new OAuth2Issuer();
let current = await issuer.keys.generate(alg);
const service = new OAuth2Service(issuer);
const handler = service.requestHandler;
let jwksRequests = 0;

// The provider's own token endpoint (client credentials, password, ...) issues tokens for this audience and subject.
let nextUser = null;
service.on('beforeTokenSigning', (token, req) => {
  token.payload.aud = req.body?.audience ?? 'tenantevents';
  token.payload.sub = req.body?.subject ?? req.body?.client_id ?? 'idp-user';
  if (req.body?.grant_type === 'authorization_code' && nextUser) {
    Object.assign(token.payload, nextUser);
    token.payload.aud = req.body.client_id;
  }
});

function readJson(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', chunk => { body += chunk; });
    req.on('end', () => { try { resolve(body ? JSON.parse(body) : {}); } catch (e) { reject(e); } });
  });
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === 'POST' && req.url === '/control/token') {
      const { claims = {}, header = {}, expiresIn = 3600, kid } = await readJson(req);
      const token = await issuer.buildToken({
        kid: kid ?? current.kid,
        expiresIn,
        scopesOrTransform: (h, p) => { Object.assign(h, header); Object.assign(p, claims); },
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token }));
      return;
    }
    if (req.method === 'POST' && req.url === '/control/next-user') {
      nextUser = await readJson(req);
      res.writeHead(204);
      res.end();
      return;
    }
    if (req.method === 'POST' && req.url === '/control/rotate') {
      current = await issuer.keys.generate(alg);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kid: current.kid }));
      return;
    }
    if (req.method === 'GET' && req.url === '/control/stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jwksRequests }));
      return;
    }
    if (req.url === '/jwks') jwksRequests++;
    handler(req, res);
  } catch (e) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(e));
  }
});

server.listen(0, '127.0.0.1', () => {
  issuer.url = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(JSON.stringify({ issuer: issuer.url, kid: current.kid }) + '\n');
});
// The test host ends us by closing our standard input (or killing us).
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
