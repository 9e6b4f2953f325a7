// The server a nano test file talks to, and small helpers shared by the tests.
//
// SETTEE_URL points at a running server (Settee or Apache CouchDB 3.x), with
// admin credentials in the URL (http://admin:secret@127.0.0.1:5984).
// Otherwise SETTEE_BIN (default target/debug/settee) is started in memory on
// a free port with one server admin, and its first stdout line
// `Settee listening on http://ADDR:PORT` gives the address.
//
// Every test creates its own uniquely named database, so the files are
// independent of each other and of what else the server holds.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { after } from 'node:test';

import Nano from 'nano';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..');

/** The server admin a started Settee gets. */
export const ADMIN = { name: 'admin', password: 'secret' };

function binary() {
  return process.env.SETTEE_BIN || path.join(repo, 'target', 'debug', 'settee');
}

/** Starts a Settee child process; resolves to { url, plainUrl, admin, stop() }. */
function startSettee() {
  const args = ['--port', '0', '--in-memory', '--admin', `${ADMIN.name}:${ADMIN.password}`];
  const child = spawn(binary(), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-20_000);
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Settee did not start within 20 s: ${stderr}`));
    }, 20_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${binary()}: ${e.message}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Settee exited early (${code}): ${stderr}`));
    });
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/Settee listening on (http:\/\/\S+)/);
      if (!m) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      const plainUrl = m[1].replace(/\/$/, '');
      const u = new URL(plainUrl);
      u.username = ADMIN.name;
      u.password = ADMIN.password;
      resolve({
        url: u.toString().replace(/\/$/, ''),
        plainUrl,
        admin: ADMIN,
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGINT');
          }),
      });
    });
  });
}

/**
 * The server for a test file: SETTEE_URL, or a fresh in-memory Settee.
 * `url` carries the admin credentials, `plainUrl` carries none.
 */
async function server() {
  if (process.env.SETTEE_URL) {
    const u = new URL(process.env.SETTEE_URL);
    const admin = u.username
      ? { name: decodeURIComponent(u.username), password: decodeURIComponent(u.password) }
      : null;
    const url = u.toString().replace(/\/$/, '');
    u.username = '';
    u.password = '';
    return { url, plainUrl: u.toString().replace(/\/$/, ''), admin, stop: async () => {} };
  }
  return startSettee();
}

/**
 * The server for the calling test file, with a nano client speaking as its
 * admin: `const { srv, nano } = await serverForFile();` at the top level of
 * a test file starts it and registers an `after` hook that stops it.
 */
export async function serverForFile() {
  const srv = await server();
  after(() => srv.stop());
  return { srv, nano: Nano(srv.url) };
}

/** A database name no other test uses. */
export function uniqueName(tag) {
  return `nano-${tag}-${randomUUID().slice(0, 8)}`;
}

/** Creates a fresh database; returns its nano document scope and name. */
export async function freshDb(nano, tag) {
  const name = uniqueName(tag);
  await nano.db.create(name);
  return { db: nano.use(name), name };
}

/**
 * Asserts that `promise` rejects with a nano error carrying CouchDB's status
 * code, `error` string and (when given) `reason`; returns the error.
 */
export async function rejectsWith(promise, statusCode, error, reason) {
  let caught = null;
  try {
    const value = await promise;
    assert.fail(`expected ${statusCode} ${error}, got success: ${JSON.stringify(value)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    caught = e;
  }
  const got = { statusCode: caught.statusCode, error: caught.error, reason: caught.reason };
  const want = { statusCode, error, reason: reason === undefined ? caught.reason : reason };
  assert.deepEqual(got, want, `${caught.request?.method ?? ''} ${caught.request?.url ?? ''}`);
  return caught;
}

/** `n` small documents with deterministic ids and content. */
export function makeDocs(n, prefix = 'doc') {
  const docs = [];
  for (let i = 0; i < n; i++) {
    docs.push({ _id: `${prefix}-${String(i).padStart(4, '0')}`, n: i, even: i % 2 === 0 });
  }
  return docs;
}

/** Matches a CouchDB revision id: generation, dash, 32 hex digits. */
export const REV = /^\d+-[0-9a-f]{32}$/;
