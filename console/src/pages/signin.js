import { useEffect, useState } from 'preact/hooks';
import { html } from '../html.js';
import { t } from '../i18n.js';
import { beginSignIn, signInWithToken } from '../auth.js';

/**
 * Sign-in: name your organisation (its slug) to be sent to its own OpenID provider (authorization code + PKCE); in the
 * Development environment only, paste a development token (`make token ROLE=...`).
 */
export function SignIn({ notice }) {
  const [options, setOptions] = useState(null);
  const [error, setError] = useState(notice);
  useEffect(() => { fetch('/api/console/sign-in').then(r => r.json()).then(setOptions, () => setOptions({})); }, []);
  useEffect(() => setError(notice), [notice]);
  const organisation = async event => {
    event.preventDefault();
    setError(null);
    const slug = new FormData(event.target).get('tenant').trim();
    const response = await fetch(`/api/console/sign-in?tenant=${encodeURIComponent(slug)}`);
    const answer = response.ok ? await response.json() : null;
    if (!answer?.provider) { setError(t('signin.noProvider')); return; }
    try { await beginSignIn(answer.provider); } catch (e) { setError(t('signin.providerUnreachable')); }
  };
  const platform = async () => {
    try { await beginSignIn(options.platform); } catch { setError(t('signin.providerUnreachable')); }
  };
  const pasted = async event => {
    event.preventDefault();
    setError(null);
    try { await signInWithToken(new FormData(event.target).get('token')); } catch (e) { setError(e.message || t('signin.badToken')); }
  };
  return html`<main class="signin" id="main">
    <h1>${t('signin.title')}</h1>
    <p>${t('signin.intro')}</p>
    ${error ? html`<div class="problem" role="alert">${error}</div>` : null}
    <form onSubmit=${organisation}>
      <label class="field">${t('signin.tenant')} <input name="tenant" required autocomplete="organization" /></label>
      <button type="submit">${t('signin.continue')}</button>
    </form>
    ${options?.platform ? html`<p><button type="button" onClick=${platform}>${t('signin.platform')}</button></p>` : null}
    ${options?.development ? html`<form onSubmit=${pasted} class="dev">
      <h2>${t('signin.devTitle')}</h2>
      <p class="muted">${t('signin.devIntro')}</p>
      <label class="field">${t('signin.token')} <textarea name="token" rows="3" required></textarea></label>
      <button type="submit">${t('signin.devContinue')}</button>
    </form>` : null}
  </main>`;
}
