// Sign-in. The tenant's own OpenID provider or the platform's, with the authorization code flow and PKCE (RFC 7636,
// S256): the console is a public client, it holds no secret, and the token stays in this tab (sessionStorage). In the
// Development environment only, a development token can be pasted instead (the service says which: /api/console/sign-in).
const KEY = 'tenantevents.console.session';
const PENDING = 'tenantevents.console.pending';
const listeners = new Set();

export function session() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY));
    if (!stored) return null;
    if (stored.claims.exp && stored.claims.exp * 1000 < Date.now()) { sessionStorage.removeItem(KEY); return null; }
    return stored;
  } catch { return null; }
}

export function onSession(listener) { listeners.add(listener); return () => listeners.delete(listener); }
const changed = reason => listeners.forEach(l => l(session(), reason));

export function claimsOf(token) {
  const part = token.split('.')[1];
  if (!part) throw new Error('not a JWT');
  const json = atob(part.replaceAll('-', '+').replaceAll('_', '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, c => c.charCodeAt(0))));
}

export function signInWithToken(token, via = 'development') {
  const claims = claimsOf(token.trim());
  sessionStorage.setItem(KEY, JSON.stringify({ token: token.trim(), claims, via }));
  changed('signed-in');
}

export function signOut(reason = 'signed-out') {
  sessionStorage.removeItem(KEY);
  changed(reason);
}

/** What the console knows of the person from their token: roles and tenant (the API remains the judge). */
export function who(current = session()) {
  if (!current) return null;
  const c = current.claims;
  const roles = [c.role ?? c.roles ?? []].flat().filter(Boolean);
  return { subject: c.sub, name: c.name || c.preferred_username || c.email || c.sub, roles, tenantId: c.tenant_id ?? current.tenantId ?? null,
    platform: roles.some(r => ['platform-admin', 'platform-approver', 'auditor', 'analyst'].includes(r)), via: current.via };
}

const b64url = bytes => btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');

/** Starts the authorization code flow with PKCE at a provider ({issuer, clientId, scope, tenantId}). */
export async function beginSignIn(provider) {
  const discovery = await (await fetch(provider.issuer.replace(/\/$/, '') + '/.well-known/openid-configuration')).json();
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  const redirect = location.origin + location.pathname;
  sessionStorage.setItem(PENDING, JSON.stringify({ state, verifier, redirect, token: discovery.token_endpoint, clientId: provider.clientId,
    tenantId: provider.tenantId ?? null, issuer: discovery.issuer }));
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({ response_type: 'code', client_id: provider.clientId, redirect_uri: redirect,
    scope: provider.scope || 'openid profile email', state, code_challenge: challenge, code_challenge_method: 'S256' });
  location.assign(url.toString());
}

/** Finishes the flow when the provider sends the person back with ?code=&state=; returns true when it did. */
export async function completeSignIn() {
  const query = new URLSearchParams(location.search);
  if (!query.has('code') && !query.has('error')) return false;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', location.pathname + location.hash);
  if (query.has('error')) throw new Error(query.get('error_description') || query.get('error'));
  if (!pending || query.get('state') !== pending.state) throw new Error('The sign-in answer does not belong to this tab (state differs).');
  const response = await fetch(pending.token, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: query.get('code'), redirect_uri: pending.redirect,
      client_id: pending.clientId, code_verifier: pending.verifier }) });
  if (!response.ok) throw new Error(`The provider refused the code (${response.status}).`);
  const tokens = await response.json();
  const token = tokens.access_token;
  const claims = claimsOf(token);
  sessionStorage.setItem(KEY, JSON.stringify({ token, claims, via: pending.issuer, tenantId: pending.tenantId }));
  changed('signed-in');
  return true;
}
