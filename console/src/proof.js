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

const bitLength = x => { let n = 0n; while (x > 0n) { x >>= 1n; n++; } return n; };
const ones = x => { let n = 0n; while (x > 0n) { n += x & 1n; x >>= 1n; } return n; };
const trailingZeros = x => { let n = 0n; while (x > 0n && (x & 1n) === 0n) { x >>= 1n; n++; } return n; };
const node = (left, right) => sha256(concat([1], left, right));

/**
 * RFC 9162 section 2.1.4.2: whether a consistency proof shows the tree of size1 with root1 to be a prefix of the tree of
 * size2 with root2 (so the log was only appended to between the two checkpoints).
 */
export async function verifyConsistency(size1, size2, root1, root2, proof) {
  proof = proof ?? [];
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size2 < size1) return false;
  if (proof.some(p => p.length !== 32)) return false;
  if (size1 === 0) return false; // nothing to be consistent with: an empty tree proves nothing (the vectors refuse it)
  if (size1 === size2) return proof.length === 0 && equal(root1, root2);
  if (proof.length === 0 || root1.length !== 32 || root2.length !== 32) return false;
  const index = BigInt(size1 - 1), size = BigInt(size2);
  let inner = bitLength(index ^ (size - 1n));
  const border = ones(index >> inner);
  const shift = trailingZeros(BigInt(size1));
  inner -= shift;
  let seed = proof[0], start = 1;
  if (BigInt(size1) === 1n << shift) { seed = root1; start = 0; }
  if (BigInt(proof.length) !== BigInt(start) + inner + border) return false;
  const path = proof.slice(start);
  const mask = index >> shift;
  let hash1 = seed, hash2 = seed;
  for (let i = 0; i < Number(inner); i++) {
    if ((mask >> BigInt(i)) & 1n) { hash1 = await node(path[i], hash1); hash2 = await node(path[i], hash2); }
    else hash2 = await node(hash2, path[i]);
  }
  for (const h of path.slice(Number(inner))) { hash1 = await node(h, hash1); hash2 = await node(h, hash2); }
  return equal(hash1, root1) && equal(hash2, root2);
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
  // Strict DER, as the service writes it: one SEQUENCE with a short length, two minimal positive INTEGERs, nothing after.
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) throw new Error('not a DER signature');
  let i = 2;
  const integer = () => {
    if (der[i++] !== 0x02) throw new Error('not a DER integer');
    const length = der[i++];
    if (length < 1 || length > 33 || i + length > der.length) throw new Error('bad integer length');
    const value = der.slice(i, i + length);
    i += length;
    if (value[0] & 0x80) throw new Error('negative integer');
    if (value.length > 1 && value[0] === 0 && !(value[1] & 0x80)) throw new Error('integer not minimal');
    const bytes = value[0] === 0 && value.length > 1 ? value.slice(1) : value;
    if (bytes.length > 32) throw new Error('integer too long');
    return concat(new Uint8Array(32 - bytes.length), bytes);
  };
  const raw = concat(integer(), integer());
  if (i !== der.length) throw new Error('bytes after the signature');
  return raw;
}

/** A signed note's text if the key's signature on it verifies, else null (other keys' lines are ignored). */
export async function openNote(note, key) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) return null;
  const text = note.slice(0, split + 1);
  if ([...text].some(c => c < ' ' && c !== '\n')) return null;
  let verified = false;
  for (const line of note.slice(split + 2, -1).split('\n')) {
    if (!line.startsWith('\u2014 ')) return null;
    const [name, signature, extra] = line.slice(2).split(' ');
    if (extra !== undefined || !signature) return null;
    const blob = fromBase64(signature);
    if (name !== key.name || blob.length < 5 || !equal(blob.slice(0, 4), key.id)) continue;
    let raw;
    try { raw = derToRaw(blob.slice(4)); } catch { return null; }
    const ok = await subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key.publicKey, raw, encoder.encode(text));
    if (!ok) return null;
    verified = true;
  }
  return verified ? text : null;
}

/**
 * The fields a leaf commits to (LedgerLeaf.Data: "tenantevents/audit-leaf/v1\n", then each field as its UTF-8 byte
 * length, ':', the value and '\n', or '-\n' for none): tenant, index, seq, eventId, stream, version, type, time,
 * correlationId, causationId, userName, headersSha256, dataSha256. Null when the bytes are not such a leaf.
 */
export function parseLeaf(bytes) {
  const magic = encoder.encode('tenantevents/audit-leaf/v1\n');
  if (bytes.length < magic.length || !equal(bytes.slice(0, magic.length), magic)) return null;
  const names = ['tenant', 'index', 'seq', 'eventId', 'stream', 'version', 'type', 'time', 'correlationId', 'causationId', 'userName', 'headersSha256', 'dataSha256'];
  const fields = {};
  let i = magic.length;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (const name of names) {
    if (bytes[i] === 0x2d && bytes[i + 1] === 0x0a) { fields[name] = null; i += 2; continue; }
    let length = 0, digits = 0;
    while (bytes[i] >= 0x30 && bytes[i] <= 0x39 && digits < 10) { length = length * 10 + bytes[i] - 0x30; i++; digits++; }
    if (digits === 0 || bytes[i] !== 0x3a || i + 1 + length >= bytes.length + 1 || bytes[i + 1 + length] !== 0x0a) return null;
    try { fields[name] = decoder.decode(bytes.slice(i + 1, i + 1 + length)); } catch { return null; }
    i += length + 2;
  }
  return i === bytes.length ? fields : null;
}

/** A checkpoint's body: origin, size, root (C2SP tlog-checkpoint). */
export function parseCheckpoint(text) {
  const [origin, size, root] = text.split('\n');
  if (!origin || !/^(0|[1-9]\d{0,15})$/.test(size ?? '') || !root) return null;
  const hash = fromBase64(root);
  return hash.length === 32 ? { origin, size: Number(size), root: hash } : null;
}

/**
 * The whole check for one entry: the checkpoint note verifies with one of the audit log's keys (the pinned one, else the
 * keys the service lists: checkpoints signed before a rotation still open) and names this tenant's log; the proof is for
 * this entry (its index and event id) and leads from its leaf to that signed root; and when an earlier checkpoint was
 * verified here (trusted), the log grew from it by appending only (a consistency proof), so a server cannot show this
 * browser a different history than before. Returns {ok, steps:[{id, ok, detail}]}.
 */
export async function verifyEntry({ verifierKeys, note, tenantId, proof, entry, trusted, consistency }) {
  const steps = [];
  const step = (id, ok, detail = '') => { steps.push({ id, ok, detail }); return ok; };
  try {
    const keys = [];
    for (const vkey of verifierKeys) keys.push(await importVerifierKey(vkey));
    step('key', keys.length > 0, keys.map(k => k.name).join(', '));
    let text = null;
    for (const key of keys) if ((text = await openNote(note, key)) !== null) break;
    if (!step('signature', text !== null)) return { ok: false, steps };
    const checkpoint = parseCheckpoint(text);
    if (!step('origin', !!checkpoint && checkpoint.origin.endsWith(`/audit/${tenantId}`), checkpoint?.origin)) return { ok: false, steps };
    // The leaf is hashed here from the data it commits to, and that data names this tenant, this entry's position and
    // event, its stream, version and type: what the server says the proof is for does not count, only what was hashed.
    const data = fromBase64(proof.leafData ?? '');
    const leaf = parseLeaf(data);
    const leafHash = await sha256(concat([0], data));
    const bound = !!leaf && equal(leafHash, fromBase64(proof.leafHash)) && leaf.tenant === tenantId && leaf.index === String(entry.index)
      && leaf.eventId === entry.eventId && leaf.stream === entry.streamId && leaf.version === String(entry.version) && leaf.type === entry.type
      && proof.leafIndex === entry.index;
    if (!step('entry', bound, leaf ? `${leaf.index} · ${leaf.eventId} · ${leaf.type}` : '')) return { ok: false, steps };
    if (!step('size', proof.treeSize === checkpoint.size, `${proof.treeSize} / ${checkpoint.size}`)) return { ok: false, steps };
    const included = await verifyInclusion(entry.index, checkpoint.size, leafHash, proof.proof.map(fromBase64), checkpoint.root);
    if (!step('inclusion', included, `${proof.leafIndex} / ${checkpoint.size}`)) return { ok: false, steps, checkpoint };
    if (trusted) {
      const grew = trusted.size <= checkpoint.size && await verifyConsistency(trusted.size, checkpoint.size, fromBase64(trusted.root),
        checkpoint.root, (consistency ?? []).map(fromBase64));
      step('consistency', grew, `${trusted.size} → ${checkpoint.size}`);
    }
    return { ok: steps.every(s => s.ok), steps, checkpoint };
  } catch (e) {
    step('error', false, e.message);
    return { ok: false, steps };
  }
}
