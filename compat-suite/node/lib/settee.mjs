// Starting Settee for a test file, and a real PouchDB (memory adapter on
// the local side, the HTTP adapter for Settee) to replicate with it.
//
// SETTEE_URL points at a running server (credentials in the URL, as
// http://admin:secret@127.0.0.1:5984); otherwise SETTEE_BIN (default
// target/debug/settee) is started on a free port with a server admin, in
// memory unless a data directory is given, and its `Settee listening on
// http://…` line is read. Every client here speaks as that admin.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';

import PouchDB from 'pouchdb-core';
import HttpAdapter from 'pouchdb-adapter-http';
import MemoryAdapter from 'pouchdb-adapter-memory';
import Replication from 'pouchdb-replication';

PouchDB.plugin(HttpAdapter).plugin(MemoryAdapter).plugin(Replication);
export { PouchDB };

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..');

export function binary() {
  return process.env.SETTEE_BIN || path.join(repo, 'target', 'debug', 'settee');
}

/** The server admin the started servers get. */
const ADMIN = { username: 'admin', password: 'compat-secret' };

/** Basic credentials for `fetch`, from { username, password }. */
export function authHeader(auth) {
  return auth ? { Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {};
}

/** Starts a Settee child process; resolves to { url, auth, pid, stop() }. */
export function startSettee({ dataDir, port = 0, extraArgs = [] } = {}) {
  const args = [
    '--port',
    String(port),
    ...(dataDir ? ['--data-dir', dataDir] : ['--in-memory']),
    '--admin',
    `${ADMIN.username}:${ADMIN.password}`,
    ...extraArgs,
  ];
  const child = spawn(binary(), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 100_000) stderr = stderr.slice(-50_000);
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Settee did not start in time: ${stderr}`));
    }, 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Settee exited early (${code}): ${stderr}`));
    });
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/Settee listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({
          url: m[1],
          auth: ADMIN,
          pid: child.pid,
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null) return done();
              child.once('exit', () => done());
              child.kill('SIGINT');
            }),
        });
      }
    });
  });
}

/** The server for a test file: SETTEE_URL, or a fresh in-memory child. */
export async function server() {
  if (process.env.SETTEE_URL) {
    const u = new URL(process.env.SETTEE_URL);
    const auth = u.username ? { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) } : null;
    u.username = '';
    u.password = '';
    return { url: u.toString().replace(/\/$/, ''), auth, stop: async () => {} };
  }
  return startSettee();
}

/** A PouchDB for a database on the server, speaking as its admin. */
export function remoteDb(srv, name, opts = {}) {
  return new PouchDB(`${srv.url}/${name}`, { ...(srv.auth ? { auth: srv.auth } : {}), ...opts });
}

export function tempDir() {
  const dir = mkdtempSync(path.join(tmpdir(), 'settee-node-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function uniqueName(tag) {
  return `node-${tag}-${randomUUID().slice(0, 8)}`;
}

/** A fresh remote database (created) and a fresh local memory one. */
export async function pair(srv, tag) {
  const name = uniqueName(tag);
  const remote = remoteDb(srv, name);
  await remote.info(); // creates it
  const local = new PouchDB(`${name}-local`, { adapter: 'memory' });
  return { name, remote, local, remoteUrl: `${srv.url}/${name}` };
}

/** Plain HTTP against Settee, as the server's admin. */
export async function http(srv, method, url, body, headers = {}) {
  const init = { method, headers: { ...authHeader(srv.auth), ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] ??= 'application/json';
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (multipart, event stream)
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Every document of a PouchDB database, with conflicts, keyed by id. */
export async function snapshot(db) {
  const all = await db.allDocs({ include_docs: true, conflicts: true });
  const out = new Map();
  for (const row of all.rows) {
    out.set(row.id, row.doc);
  }
  return out;
}

/** `n` small documents with deterministic content. */
export function makeDocs(n, prefix = 'doc') {
  const docs = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${String(i).padStart(6, '0')}`;
    docs.push({ _id: id, n: i, even: i % 2 === 0, tag: `t${i % 7}`, nested: { s: `value ${i}`, list: [i, i + 1] } });
  }
  return docs;
}

/** Inserts documents in batches. */
export async function bulkInsert(db, docs, batch = 1000) {
  for (let i = 0; i < docs.length; i += batch) {
    const res = await db.bulkDocs(docs.slice(i, i + batch));
    const bad = res.filter((r) => r.error);
    if (bad.length) throw new Error(`bulkDocs failed: ${JSON.stringify(bad.slice(0, 3))}`);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns truthy or `ms` pass. */
export async function waitFor(check, ms, step = 10) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) return v;
    await sleep(step);
  }
}
