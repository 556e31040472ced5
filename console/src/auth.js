// Sign-in. The tenant's own OpenID provider or the platform's, with the authorization code flow and PKCE (RFC 7636,
// S256): the console is a public client, it holds no secret, and the token stays in this tab (sessionStorage). Each
// provider has its own redirect address (/console/signin/t/{short name}, /console/signin/staff): an answer arriving at
// another address than the pending sign-in's, or naming another issuer (RFC 9207), is refused (mix-up defence, RFC 9700
// 4.4.2). The bearer is the ID token, whose audience is the console's client id (what the service checks), with its nonce
// checked here; the service then says who the person is (/api/console/me): roles come from its judgement, never from
// claims read here. In the Development environment only, a development token can be pasted instead.
import { t } from './i18n.js';

const KEY = 'tenantevents.console.session';
const PENDING = 'tenantevents.console.pending';
const listeners = new Set();

export function session() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY));
    if (!stored) return null;
    if (stored.expires && stored.expires * 1000 < Date.now()) { sessionStorage.removeItem(KEY); return null; }
    return stored;
  } catch { return null; }
}

export function onSession(listener) { listeners.add(listener); return () => listeners.delete(listener); }
const changed = reason => listeners.forEach(l => l(session(), reason));

export function claimsOf(token) {
  const part = token.split('.')[1];
  if (!part) throw new Error(t('signin.badToken'));
  const json = atob(part.replaceAll('-', '+').replaceAll('_', '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, c => c.charCodeAt(0))));
}

/** Asks the service who this token is; stores the session only when it accepts it. */
async function establish(token, via) {
  const claims = claimsOf(token);
  const response = await fetch('/api/console/me', { headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } });
  if (!response.ok) {
    const problem = await response.json().catch(() => null);
    // A person the service knows but cannot admit (no licence free): its own words; anything else, ours.
    throw new Error(response.status === 403 && problem?.detail ? problem.detail : t('signin.notAccepted'));
  }
  const caller = await response.json();
  sessionStorage.setItem(KEY, JSON.stringify({ token, expires: claims.exp ?? null, caller, via }));
  changed('signed-in');
}

export const signInWithToken = token => establish(token.trim(), 'development');

export function signOut(reason = 'signed-out') {
  sessionStorage.removeItem(KEY);
  changed(reason);
}

/** The person as the service judged them: roles, tenant, name. */
export function who(current = session()) {
  if (!current?.caller) return null;
  const c = current.caller;
  const roles = c.roles ?? [];
  return { subject: c.subject, name: c.name || c.email || c.subject, roles, tenantId: c.tenantId ?? null,
    platform: roles.some(r => ['platform-admin', 'platform-approver', 'auditor', 'analyst'].includes(r)), via: current.via };
}

const b64url = bytes => btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
const random = n => b64url(crypto.getRandomValues(new Uint8Array(n)));

/** Starts the authorization code flow with PKCE at a provider ({issuer, clientId, redirectPath}). */
export async function beginSignIn(provider) {
  const discovery = await (await fetch(provider.issuer.replace(/\/$/, '') + '/.well-known/openid-configuration')).json();
  // The document must be the issuer's own (OpenID Connect Discovery 4.3), or its endpoints are someone else's.
  if (discovery.issuer !== provider.issuer || !discovery.authorization_endpoint || !discovery.token_endpoint) throw new Error(t('signin.providerUnreachable'));
  const verifier = random(32), state = random(16), nonce = random(16);
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  const redirect = location.origin + provider.redirectPath;
  sessionStorage.setItem(PENDING, JSON.stringify({ state, verifier, nonce, redirectPath: provider.redirectPath, redirect, token: discovery.token_endpoint,
    clientId: provider.clientId, issuer: provider.issuer, issRequired: discovery.authorization_response_iss_parameter_supported === true }));
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({ response_type: 'code', client_id: provider.clientId, redirect_uri: redirect,
    scope: 'openid profile email', state, nonce, code_challenge: challenge, code_challenge_method: 'S256' });
  location.assign(url.toString());
}

/** Finishes the flow when the provider sends the person back to a sign-in address; true when it signed someone in. */
export async function completeSignIn() {
  if (!location.pathname.startsWith('/console/signin/')) return false;
  const query = new URLSearchParams(location.search);
  const landed = location.pathname;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', '/console/');
  // Nothing is shown of what the address says unless this tab started this very sign-in.
  if (!pending || query.get('state') !== pending.state) throw new Error(t('signin.notOurs'));
  // The answer came back to the address of the provider this tab chose: not to another provider's (mix-up).
  if (landed !== pending.redirectPath) throw new Error(t('signin.notOurs'));
  if (query.has('error')) throw new Error(t('signin.refused', { code: (query.get('error') || '').replace(/[^a-z_]/g, '').slice(0, 40) }));
  if (query.has('iss') ? query.get('iss') !== pending.issuer : pending.issRequired) throw new Error(t('signin.notOurs'));
  const response = await fetch(pending.token, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: query.get('code') ?? '', redirect_uri: pending.redirect,
      client_id: pending.clientId, code_verifier: pending.verifier }) });
  if (!response.ok) throw new Error(t('signin.codeRefused', { status: response.status }));
  const tokens = await response.json();
  // An OpenID provider answers with an ID token: without one (or with another nonce, issuer or audience) nothing is used.
  if (!tokens.id_token) throw new Error(t('signin.notOurs'));
  const claims = claimsOf(tokens.id_token);
  const audiences = [claims.aud].flat();
  if (claims.nonce !== pending.nonce || claims.iss !== pending.issuer || !audiences.includes(pending.clientId)) throw new Error(t('signin.notOurs'));
  await establish(tokens.id_token, pending.issuer);
  return true;
}
