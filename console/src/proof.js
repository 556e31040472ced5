// The auditor's checks, done here with WebCrypto so that nothing rests on the server's word: a C2SP signed note
// (checkpoint) verified with the pinned audit log key (ECDSA P-256, SHA-256, signature type 0x02), and an RFC 9162
// inclusion proof recomputed up to the signed root. Pure functions of their inputs; tested against the published
// vectors in ../shared/testdata/merkle (console/tests/proof.test.mjs).
const encoder = new TextEncoder();
const subtle = globalThis.crypto.subtle;

export const fromBase64 = text => { try { return Uint8Array.from(atob(text), c => c.charCodeAt(0)); } catch { return new Uint8Array(0); } };
export const toBase64 = bytes => btoa(String.fromCharCode(...bytes));
const sha256 = async bytes => new Uint8Array(await subtle.digest('SHA-256', bytes));
const concat = (...parts) => { const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0)); let i = 0; for (const p of parts) { out.set(p, i); i += p.length; } return out; };
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** RFC 9162 section 2.1.3.2: the root an inclusion proof leads to, or null when the proof cannot be one. */
export async function rootFromInclusionProof(leafIndex, treeSize, leafHash, proof) {
  if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize) || leafIndex < 0 || leafIndex >= treeSize) return null;
  if (leafHash.length !== 32 || (proof ?? []).some(p => p.length !== 32)) return null;
  let fn = leafIndex, sn = treeSize - 1, r = leafHash;
  for (const p of proof ?? []) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(concat([1], p, r));
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await sha256(concat([1], r, p));
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

export async function verifyInclusion(leafIndex, treeSize, leafHash, proof, root) {
  const computed = await rootFromInclusionProof(leafIndex, treeSize, leafHash, proof);
  return computed !== null && equal(computed, root);
}

/** A verifier key "name+keyid+base64(0x02 || SPKI)": checked (the id is the key's own) and imported. */
export async function importVerifierKey(vkey) {
  const [name, id, ...rest] = vkey.trim().split('+');
  const key = rest.join('+');
  if (!name || !id || id.length !== 8 || !key) throw new Error('A verifier key reads name+keyid+base64key.');
  const raw = fromBase64(key);
  if (raw[0] !== 0x02) throw new Error('Only ECDSA P-256 (signature type 0x02) keys.');
  const digest = await sha256(concat(encoder.encode(name), [0x0a], raw));
  const computedId = [...digest.slice(0, 4)].map(b => b.toString(16).padStart(2, '0')).join('');
  if (computedId !== id.toLowerCase()) throw new Error('The key id does not match the key.');
  const publicKey = await subtle.importKey('spki', raw.slice(1), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  return { name, id: digest.slice(0, 4), publicKey };
}

/** ASN.1 DER ECDSA signature (SEQUENCE of two INTEGERs) to the 64-byte r||s WebCrypto verifies. */
export function derToRaw(der) {
  let i = 0;
  if (der[i++] !== 0x30) throw new Error('not a DER signature');
  if (der[i] & 0x80) i += 1 + (der[i] & 0x7f); else i++;
  const integer = () => {
    if (der[i++] !== 0x02) throw new Error('not a DER integer');
    const length = der[i++];
    let value = der.slice(i, i + length);
    i += length;
    while (value.length > 32 && value[0] === 0) value = value.slice(1);
    if (value.length > 32) throw new Error('integer too long');
    return concat(new Uint8Array(32 - value.length), value);
  };
  return concat(integer(), integer());
}

/** A signed note's text if the key's signature on it verifies, else null (other keys' lines are ignored). */
export async function openNote(note, key) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) return null;
  const text = note.slice(0, split + 1);
  let verified = false;
  for (const line of note.slice(split + 2, -1).split('\n')) {
    if (!line.startsWith('\u2014 ')) return null;
    const [name, signature, extra] = line.slice(2).split(' ');
    if (extra !== undefined || !signature) return null;
    const blob = fromBase64(signature);
    if (name !== key.name || blob.length < 5 || !equal(blob.slice(0, 4), key.id)) continue;
    const ok = await subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key.publicKey, derToRaw(blob.slice(4)), encoder.encode(text));
    if (!ok) return null;
    verified = true;
  }
  return verified ? text : null;
}

/** A checkpoint's body: origin, size, root (C2SP tlog-checkpoint). */
export function parseCheckpoint(text) {
  const [origin, size, root] = text.split('\n');
  if (!origin || !/^\d+$/.test(size ?? '') || !root) return null;
  return { origin, size: Number(size), root: fromBase64(root) };
}

/**
 * The whole check for one entry: the checkpoint note verifies with the pinned key and names this tenant's log; the
 * proof for the entry's index leads from its leaf to that signed root. Returns {ok, steps:[{id, ok, detail}]}.
 */
export async function verifyEntry({ verifierKey, note, tenantId, proof }) {
  const steps = [];
  const step = (id, ok, detail = '') => { steps.push({ id, ok, detail }); return ok; };
  try {
    const key = await importVerifierKey(verifierKey);
    step('key', true, `${key.name}`);
    const text = await openNote(note, key);
    if (!step('signature', text !== null)) return { ok: false, steps };
    const checkpoint = parseCheckpoint(text);
    if (!step('origin', !!checkpoint && checkpoint.origin.endsWith(`/audit/${tenantId}`), checkpoint?.origin)) return { ok: false, steps };
    if (!step('size', proof.treeSize === checkpoint.size, `${proof.treeSize} / ${checkpoint.size}`)) return { ok: false, steps };
    const included = await verifyInclusion(proof.leafIndex, checkpoint.size, fromBase64(proof.leafHash), proof.proof.map(fromBase64), checkpoint.root);
    step('inclusion', included, `${proof.leafIndex} / ${checkpoint.size}`);
    return { ok: steps.every(s => s.ok), steps };
  } catch (e) {
    step('error', false, e.message);
    return { ok: false, steps };
  }
}
