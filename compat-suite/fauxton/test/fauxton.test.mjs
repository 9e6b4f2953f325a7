// Fauxton, CouchDB's web UI, served by Settee at /_utils and driven in
// headless Chromium as a person would use it: log in, create a database,
// create a document and edit it, run a Mango query, and open the pages
// that list tasks, replications and the configuration. Every step leaves
// a screenshot in artifacts/ and is checked against the server's API.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { ARTIFACTS, CHROMIUM_ARGS, admin, chromiumPath, server } from '../lib/settee.mjs';

const executable = chromiumPath();
const skip = executable
  ? false
  : 'no Chromium (install Debian\'s chromium, or set CHROMIUM to its path)';

let srv;
let browser;
let page;
/** Uncaught errors in the page and failed requests, by step. */
const problems = [];

const db = `fauxton-${Date.now()}`;
const docId = 'settee-doc';

async function shot(name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The text of the page's Ace editor. */
function editorText() {
  return page.evaluate(() => document.querySelector('.ace_editor').env.editor.getValue());
}

async function setEditorText(text) {
  await page.evaluate((t) => {
    const { editor } = document.querySelector('.ace_editor').env;
    editor.setValue(t, 1);
  }, text);
}

/** Polls the API until `check` holds for GET `urlPath`'s answer. */
async function eventually(urlPath, check, what) {
  let last;
  for (let i = 0; i < 100; i++) {
    last = await admin(srv, 'GET', urlPath);
    if (check(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what}: GET ${urlPath} answered ${last.status} ${JSON.stringify(last.body)}`);
}

before(async () => {
  if (skip) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  srv = await server();
  browser = await chromium.launch({ executablePath: executable, args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('response', (r) => {
    // 404s are answers Fauxton asks for (a missing _replicator, a new
    // document's id); anything 5xx is the server failing it
    if (r.status() >= 500) problems.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

test('Fauxton in Chromium: log in, database, document, Mango', { skip }, async (t) => {
  await t.test('the login page loads', async () => {
    const res = await page.goto(`${srv.url}/_utils`);
    assert.equal(res.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/_utils/', 'redirected to /_utils/');
    await page.waitForSelector('#username');
    await shot('01-login');
  });

  await t.test('log in as the server admin', async () => {
    await page.fill('#username', srv.admin.name);
    await page.fill('#password', srv.admin.password);
    await page.click('#submit');
    await page.waitForSelector('.add-new-database-btn');
    await page.waitForSelector('text=_users');
    await shot('02-databases');
  });

  await t.test('create a database', async () => {
    await page.click('.add-new-database-btn');
    await page.fill('#js-new-database-name', db);
    if (await page.$('#non-partitioned-db')) await page.check('#non-partitioned-db');
    await page.click('#js-create-database');
    await page.waitForURL(new RegExp(`database/${db}/_all_docs`));
    await eventually(`/${db}`, (r) => r.status === 200, 'the new database');
    await shot('03-new-database');
  });

  await t.test('create a document', async () => {
    await page.goto(`${srv.url}/_utils/#database/${db}/_new`);
    await page.waitForSelector('.ace_editor');
    await page.waitForFunction(() => document.querySelector('.ace_editor')?.env?.editor?.getValue().includes('_id'));
    await setEditorText(JSON.stringify({ _id: docId, name: 'settee', kind: 'couch' }, null, 2));
    await page.click('button.save-doc');
    const doc = await eventually(`/${db}/${docId}`, (r) => r.status === 200, 'the new document');
    assert.equal(doc.body.kind, 'couch');
    assert.match(doc.body._rev, /^1-/);
    await page.waitForURL((u) => !u.hash.endsWith('/_new'));
    await shot('04-new-document');
  });

  await t.test('edit the document', async () => {
    await page.goto(`${srv.url}/_utils/#database/${db}/${docId}`);
    await page.waitForSelector('.ace_editor');
    await page.waitForFunction(() => document.querySelector('.ace_editor')?.env?.editor?.getValue().includes('_rev'));
    const shown = JSON.parse(await editorText());
    assert.equal(shown.name, 'settee');
    await setEditorText(JSON.stringify({ ...shown, kind: 'sofa', edited: true }, null, 2));
    await page.click('button.save-doc');
    const doc = await eventually(`/${db}/${docId}`, (r) => r.body?._rev?.startsWith('2-'), 'the edit');
    assert.equal(doc.body.kind, 'sofa');
    assert.equal(doc.body.edited, true);
    await shot('05-edited-document');
  });

  await t.test('run a Mango query', async () => {
    await admin(srv, 'POST', `/${db}/_bulk_docs`, {
      docs: [{ _id: 'other-1', name: 'pouch' }, { _id: 'other-2', name: 'couch' }],
    });
    await page.goto(`${srv.url}/_utils/#database/${db}/_find`);
    await page.waitForSelector('.ace_editor');
    await page.waitForFunction(() => document.querySelector('.ace_editor')?.env?.editor?.getValue().includes('selector'));
    // the page sets its default query again once its index list arrives
    await page.waitForLoadState('networkidle');
    const query = JSON.stringify({ selector: { kind: 'sofa' } }, null, 2);
    await setEditorText(query);
    assert.equal(await editorText(), query);
    // (Fauxton also sends a probe query of its own, limit 1)
    const found = page.waitForResponse(
      (r) => r.url().endsWith(`/${db}/_find`) && (r.request().postData() ?? '').includes('sofa'),
    );
    await page.click('button:has-text("Run Query")');
    const res = await found;
    assert.equal(res.status(), 200);
    const body = await res.json();
    assert.deepEqual(body.docs.map((d) => d._id), [docId]);
    await page.waitForSelector(`text=${docId}`);
    assert.equal(await page.locator('text=other-1').count(), 0);
    await shot('06-mango-query');
  });

  await t.test('the tasks, replication and configuration pages open', async () => {
    for (const [hash, name] of [
      ['#/activetasks', '07-active-tasks'],
      ['#/replication', '08-replication'],
      ['#/_config', '09-config'],
    ]) {
      await page.goto(`${srv.url}/_utils/${hash}`);
      await page.waitForLoadState('networkidle');
      await shot(name);
    }
    await page.waitForSelector('text=couchdb');
  });

  await t.test('nothing failed in the page', () => {
    assert.deepEqual(problems, []);
  });
});
