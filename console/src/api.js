// The console's only way to the service: the public REST API, as the signed-in person (their bearer token). What the
// API refuses, the console shows as refused; it never decides on its own that someone may see something.
import { session, signOut } from './auth.js';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export async function api(path, { method = 'GET', body, headers = {}, as = 'json' } = {}) {
  const current = session();
  const init = { method, headers: { Accept: 'application/json, application/problem+json', ...headers } };
  if (current) init.headers.Authorization = `Bearer ${current.token}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401 && current) {
    signOut('expired');
    throw new ApiError(401, { title: 'Signed out' });
  }
  if (!response.ok) {
    let problem = null;
    try { problem = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, problem);
  }
  if (response.status === 204 || as === 'none') return null;
  if (as === 'text') return response.text();
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** Every page of a cursor-paged list ({items, nextCursor}), up to a bound; a list cut at the bound says so (truncated). */
export async function all(path, bound = 5000) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api(cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    if (Array.isArray(page)) return page;
    items.push(...(page.items ?? []));
    cursor = page.nextCursor;
  } while (cursor && items.length < bound);
  if (cursor) items.truncated = true;
  return items;
}
