// The servers a backup test talks to.
//
// SETTEE_URL points at a running server (Settee, or a CouchDB 3.x with
// Fauxton) whose server admin is in the URL
// (http://admin:secret@127.0.0.1:5984). COUCHDB_URL, when set, is a real
// CouchDB 3.x (with its admin in the URL) to restore into as well.
// Otherwise SETTEE_BIN (default
// target/debug/settee) is started in memory on a free port with the server
// admin admin:secret, and its line `Settee listening on http://ADDR:PORT`
// gives the address.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..');

/** The server admin a started Settee gets. */
export const ADMIN = { name: 'admin', password: 'secret' };

function binary() {
  return process.env.SETTEE_BIN || path.join(repo, 'target', 'debug', 'settee');
}

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
      resolve({
        url: m[1].replace(/\/$/, ''),
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

/** A server named by a URL with its admin in it. */
export function fromUrl(text) {
  const u = new URL(text);
  const admin = { name: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
  u.username = '';
  u.password = '';
  return { url: u.toString().replace(/\/$/, ''), admin, stop: async () => {} };
}

/** The URL of `srv` with its admin's credentials in it. */
export function withCredentials(srv) {
  const u = new URL(srv.url);
  u.username = srv.admin.name;
  u.password = srv.admin.password;
  return u.toString().replace(/\/$/, '');
}

/** `{ url, admin, stop() }`: url without credentials. */
export async function server() {
  if (process.env.SETTEE_URL) {
    return fromUrl(process.env.SETTEE_URL);
  }
  return startSettee();
}

/** A JSON request as the server admin. */
export async function admin(srv, method, urlPath, body) {
  const auth = Buffer.from(`${srv.admin.name}:${srv.admin.password}`).toString('base64');
  const res = await fetch(srv.url + urlPath, {
    method,
    headers: { Authorization: `Basic ${auth}`, 'Content-Type': 'application/json', Accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}
