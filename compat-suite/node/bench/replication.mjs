// Replication benchmarks, printed as figures:
//   - 100,000 small docs replicated PouchDB -> Settee and Settee -> PouchDB (docs/s)
//   - the _changes full feed (docs/s, with and without include_docs)
//   - memory of Settee with 1,000 idle continuous _changes listeners, and
//     how long one write takes to reach all of them
//
// Run from the repository root after `cargo build --release`:
//   node compat-suite/node/bench/replication.mjs
// SETTEE_BIN picks the binary (default target/release/settee); BENCH_DOCS the
// document count (default 100000); BENCH_LISTENERS the listeners (1000);
// BENCH_IN_MEMORY=1 runs Settee in memory instead of on a temporary disk.

import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { PouchDB, startSettee, tempDir, makeDocs, bulkInsert, remoteDb, authHeader } from '../lib/settee.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
process.env.SETTEE_BIN ||= path.resolve(here, '..', '..', '..', 'target', 'release', 'settee');
const DOCS = Number(process.env.BENCH_DOCS || 100_000);
const LISTENERS = Number(process.env.BENCH_LISTENERS || 1000);

const rate = (n, ms) => Math.round((n * 1000) / ms);
const mib = (kb) => (kb / 1024).toFixed(1);

/** Resident memory and thread count of a process, from /proc. */
function procStatus(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number((text.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm')) || [])[1] || 0);
  return { rssKb: field('VmRSS'), threads: field('Threads') };
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function timed(fn) {
  const t0 = performance.now();
  const out = await fn();
  return { ms: performance.now() - t0, out };
}

async function main() {
  const data = process.env.BENCH_IN_MEMORY ? null : tempDir();
  const settee = await startSettee(data ? { dataDir: data.dir } : {});
  const auth = authHeader(settee.auth);
  console.log(`Settee ${process.env.SETTEE_BIN} (${data ? 'on disk' : 'in memory'}), ${DOCS} docs`);
  try {
    // --- push: PouchDB (memory) -> Settee
    const local = new PouchDB('bench-source', { adapter: 'memory' });
    await bulkInsert(local, makeDocs(DOCS, 'b'), 5000);
    const target = remoteDb(settee, 'bench-push');
    await target.info();
    let cpu = cpuSeconds(settee.pid);
    const push = await timed(() => local.replicate.to(target, { batch_size: 500, batches_limit: 10 }));
    if (push.out.docs_written !== DOCS) throw new Error(`push wrote ${push.out.docs_written}`);
    const pushCpu = cpuSeconds(settee.pid) - cpu;
    console.log(
      `push PouchDB -> Settee   ${DOCS} docs in ${(push.ms / 1000).toFixed(1)} s = ${rate(DOCS, push.ms)} docs/s ` +
        `(batch_size 500; Settee CPU ${pushCpu.toFixed(1)} s)`
    );

    // --- pull: Settee -> PouchDB (memory)
    const sink = new PouchDB('bench-sink', { adapter: 'memory' });
    cpu = cpuSeconds(settee.pid);
    const pull = await timed(() => sink.replicate.from(target, { batch_size: 500, batches_limit: 10 }));
    if (pull.out.docs_written !== DOCS) throw new Error(`pull wrote ${pull.out.docs_written}`);
    const pullCpu = cpuSeconds(settee.pid) - cpu;
    console.log(
      `pull Settee -> PouchDB   ${DOCS} docs in ${(pull.ms / 1000).toFixed(1)} s = ${rate(DOCS, pull.ms)} docs/s ` +
        `(batch_size 500; Settee CPU ${pullCpu.toFixed(1)} s)`
    );

    // --- the full _changes feed, read whole by a plain HTTP client
    for (const qs of ['include_docs=true', '']) {
      let best = Infinity;
      let rows = 0;
      for (let i = 0; i < 3; i++) {
        // Timed: the server producing the feed and the bytes arriving.
        const t = await timed(async () => {
          const res = await fetch(`${settee.url}/bench-push/_changes?${qs}`, { headers: auth });
          return Buffer.from(await res.arrayBuffer());
        });
        rows = JSON.parse(t.out.toString('utf8')).results.length;
        best = Math.min(best, t.ms);
      }
      if (rows !== DOCS) throw new Error(`_changes returned ${rows} rows`);
      console.log(`_changes?${qs || '(no params)'}`.padEnd(26) + ` ${rows} rows in ${best.toFixed(0)} ms = ${rate(rows, best)} docs/s (best of 3)`);
    }

    // --- idle continuous listeners
    await fetch(`${settee.url}/bench-idle`, { method: 'PUT', headers: auth });
    const before = procStatus(settee.pid);
    const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
    const listeners = [];
    let delivered = 0;
    let allDelivered;
    const everyone = new Promise((r) => (allDelivered = r));
    const connected = [];
    for (let i = 0; i < LISTENERS; i++) {
      connected.push(
        new Promise((resolve, reject) => {
          const req = http.get(`${settee.url}/bench-idle/_changes?feed=continuous&since=now`, { agent, headers: auth }, (res) => {
            let seen = false;
            res.on('data', (chunk) => {
              if (!seen && chunk.toString().includes('"id":"ping"')) {
                seen = true;
                if (++delivered === LISTENERS) allDelivered();
              }
            });
            res.on('error', () => {});
            resolve();
          });
          req.on('error', reject);
          listeners.push(req);
        })
      );
    }
    await Promise.all(connected);
    await new Promise((r) => setTimeout(r, 1000));
    const idle = procStatus(settee.pid);
    console.log(
      `${LISTENERS} idle continuous listeners: RSS ${mib(before.rssKb)} -> ${mib(idle.rssKb)} MiB ` +
        `(+${((idle.rssKb - before.rssKb) / LISTENERS).toFixed(1)} KiB each), threads ${before.threads} -> ${idle.threads}`
    );
    const fanout = await timed(async () => {
      await fetch(`${settee.url}/bench-idle/ping`, { method: 'PUT', body: '{}', headers: auth });
      await everyone;
    });
    console.log(`one write reached all ${LISTENERS} listeners in ${fanout.ms.toFixed(0)} ms`);
    for (const req of listeners) req.destroy();
    await new Promise((r) => setTimeout(r, 1000));
    const after = procStatus(settee.pid);
    console.log(`after the listeners left: RSS ${mib(after.rssKb)} MiB, threads ${after.threads}`);
  } finally {
    await settee.stop();
    data?.remove();
  }
}

await main();
