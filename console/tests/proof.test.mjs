// The in-browser verifier (src/proof.js) against the published RFC 9162 inclusion vectors (../shared/testdata/merkle,
// used as they are) and against a note signed here with a fresh P-256 key (WebCrypto in Node is the same API).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { verifyInclusion, verifyConsistency, fromBase64, importVerifierKey, openNote, toBase64, derToRaw, parseCheckpoint, parseLeaf, verifyEntry } from '../src/proof.js';

const vectorsRoot = process.env.MERKLE_VECTORS ?? new URL('../../../shared/testdata/merkle', import.meta.url).pathname;
const root = join(vectorsRoot, 'inclusion');

function* vectors(folder) {
  for (const name of readdirSync(folder)) {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) yield* vectors(path);
    else if (name.endsWith('.json')) yield [path, JSON.parse(readFileSync(path, 'utf8'))];
  }
}

test('every published inclusion vector', async () => {
  assert.ok(existsSync(root), `the vectors are at ${root}`);
  let count = 0, refused = 0;
  for (const [path, v] of vectors(root)) {
    const ok = await verifyInclusion(v.leafIdx, v.treeSize, fromBase64(v.leafHash ?? ''), (v.proof ?? []).map(fromBase64), fromBase64(v.root ?? ''));
    assert.equal(ok, !v.wantErr, `${path}: ${v.desc}`);
    count++; if (v.wantErr) refused++;
  }
  assert.ok(count > 50 && refused > 10, `${count} vectors, ${refused} to refuse`);
});

test('every published consistency vector', async () => {
  const folder = join(vectorsRoot, 'consistency');
  let count = 0, refused = 0;
  for (const [path, v] of vectors(folder)) {
    const ok = await verifyConsistency(v.size1, v.size2, fromBase64(v.root1 ?? ''), fromBase64(v.root2 ?? ''), (v.proof ?? []).map(fromBase64));
    assert.equal(ok, !v.wantErr, `${path}: ${v.desc}`);
    count++; if (v.wantErr) refused++;
  }
  assert.ok(count > 50 && refused > 10, `${count} vectors, ${refused} to refuse`);
});

test('strict parsing: a DER signature with bytes after it or a padded integer, a checkpoint size with leading zeros or a short root', () => {
  const good = [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02];
  assert.equal(derToRaw(new Uint8Array(good)).length, 64);
  assert.throws(() => derToRaw(new Uint8Array([...good.slice(0, 1), 0x07, ...good.slice(2), 0x00])));
  assert.throws(() => derToRaw(new Uint8Array([0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x02])));
  const root = toBase64(new Uint8Array(32));
  assert.ok(parseCheckpoint(`o/audit/t\n7\n${root}\n`));
  assert.equal(parseCheckpoint(`o/audit/t\n007\n${root}\n`), null);
  assert.equal(parseCheckpoint(`o/audit/t\n7\n${toBase64(new Uint8Array(31))}\n`), null);
});

async function signedNote(text, name = 'example.org') {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
  const material = new Uint8Array([...new TextEncoder().encode(name), 0x0a, 0x02, ...spki]);
  const id = new Uint8Array(await crypto.subtle.digest('SHA-256', material)).slice(0, 4);
  const raw = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, new TextEncoder().encode(text)));
  // DER, as the service signs (Rfc3279DerSequence).
  const int = b => { let v = [...b]; while (v.length > 1 && v[0] === 0 && v[1] < 0x80) v.shift(); if (v[0] >= 0x80) v.unshift(0); return [0x02, v.length, ...v]; };
  const body = [...int(raw.slice(0, 32)), ...int(raw.slice(32))];
  const der = new Uint8Array([0x30, body.length, ...body]);
  const hex = [...id].map(b => b.toString(16).padStart(2, '0')).join('');
  return { note: `${text}\n\u2014 ${name} ${toBase64(new Uint8Array([...id, ...der]))}\n`, vkey: `${name}+${hex}+${toBase64(new Uint8Array([0x02, ...spki]))}` };
}

test('a signed note opens with its key, and not once a byte of it changed or with another key', async () => {
  const { note, vkey } = await signedNote('example.org/audit/t\n3\nAAAA\n');
  const key = await importVerifierKey(vkey);
  assert.equal(await openNote(note, key), 'example.org/audit/t\n3\nAAAA\n');
  assert.equal(await openNote(note.replace('\n3\n', '\n4\n'), key), null);
  const other = await signedNote('example.org/audit/t\n3\nAAAA\n');
  assert.equal(await openNote(note, await importVerifierKey(other.vkey)), null);
  await assert.rejects(importVerifierKey(vkey.replace(/\+[0-9a-f]{8}\+/, '+00000000+')), /key id/);
});

// A leaf as LedgerLeaf.Data writes it, and a one-leaf log whose checkpoint is signed here.
function leafOf(fields) {
  const field = v => (v === null ? '-\n' : `${new TextEncoder().encode(v).length}:${v}\n`);
  return new TextEncoder().encode('tenantevents/audit-leaf/v1\n' + fields.map(field).join(''));
}

test('a proof verifies only for the entry its leaf names, hashed in the page', async () => {
  const tenant = '01a24538-c91b-7370-b6f4-95477bc02912', eventId = '72ae6a4b-a0f1-433f-8a6d-4791863dfb79', stream = tenant;
  const data = leafOf([tenant, '0', '1', eventId, stream, '1', 'tenant_requested', '2026-12-05T08:01:19.131647Z', 'c', null, null, null, 'ab'.repeat(32)]);
  assert.equal(parseLeaf(data).eventId, eventId);
  assert.equal(parseLeaf(data.slice(0, -1)), null);
  const leafHash = new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array([0, ...data])));
  const { note, vkey } = await signedNote(`example.org/audit/${tenant}\n1\n${toBase64(leafHash)}\n`);
  const proof = { leafIndex: 0, treeSize: 1, eventId, leafHash: toBase64(leafHash), proof: [], leafData: toBase64(data) };
  const entry = { index: 0, eventId, streamId: stream, version: 1, type: 'tenant_requested' };
  const check = e => verifyEntry({ verifierKeys: [vkey], note, tenantId: tenant, proof, entry: e });
  assert.equal((await check(entry)).ok, true);
  // The server cannot pair this leaf with another entry, nor pass another leaf's hash off as this one's.
  assert.equal((await check({ ...entry, eventId: '00000000-0000-0000-0000-000000000001' })).ok, false);
  assert.equal((await check({ ...entry, type: 'tenant_approved' })).ok, false);
  assert.equal((await verifyEntry({ verifierKeys: [vkey], note, tenantId: tenant, entry, proof: { ...proof, leafData: toBase64(leafOf([tenant, '0', '1', eventId, stream, '1', 'tenant_requested', 't', null, null, null, null, 'cd'.repeat(32)])) } })).ok, false);
  assert.equal((await verifyEntry({ verifierKeys: [vkey], note, tenantId: tenant, entry, proof: { ...proof, leafData: undefined } })).ok, false);
});
