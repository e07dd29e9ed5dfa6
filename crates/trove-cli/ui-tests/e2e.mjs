// Browser end-to-end test of the trove web UI, in Debian's Chromium driven by playwright-core.
// Run by `cargo test -p trove-cli --test ui`, which starts two `trove serve` processes on
// loopback and passes their addresses and folders in the environment:
//   TROVE_A_URL, TROVE_B_URL   the UI addresses with #token=… (A publishes, B downloads)
//   PUBLISH_DIR                a folder for A to publish
//   OUT_DIR                    where B downloads it
//   UNREACHABLE_LINK           a share link whose only bootstrap hint is a closed port
//   SHOTS_DIR                  where the screenshots go
// It waits for DOM states and events, never for a fixed time; every wait has a deadline.

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (this script is run by cargo test -p trove-cli --test ui)`);
  return v;
};
const A_URL = env('TROVE_A_URL');
const B_URL = env('TROVE_B_URL');
const PUBLISH_DIR = env('PUBLISH_DIR');
const OUT_DIR = env('OUT_DIR');
const UNREACHABLE_LINK = env('UNREACHABLE_LINK');
const SHOTS = env('SHOTS_DIR');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(SHOTS, { recursive: true });

const tokenOf = (u) => u.split('#token=')[1];
const origin = (u) => new URL(u).origin;

let step = 0;
const t0 = Date.now();
function log(msg) {
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(`[ui-e2e ${String(++step).padStart(2, '0')} ${secs}s] ${msg}`);
}
const pages = [];

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
  ],
});

const problems = [];
/** A page that records script errors, CSP violations and any request carrying the token. */
async function openPage(url, name, viewport = { width: 1280, height: 900 }, colorScheme = 'light') {
  const ctx = await browser.newContext({ viewport, colorScheme });
  const page = await ctx.newPage();
  page.setDefaultTimeout(60_000);
  const tok = tokenOf(url);
  page.on('pageerror', (e) => problems.push(`${name}: script error: ${e.message}`));
  page.on('console', (m) => {
    const t = m.text();
    // Answers 4xx/5xx on purpose (bad links) are logged by Chromium as "Failed to load resource".
    if (m.type() === 'error' && !t.startsWith('Failed to load resource')) problems.push(`${name}: console error: ${t}`);
    if (/Content Security Policy/i.test(t)) problems.push(`${name}: CSP violation: ${t}`);
  });
  page.on('request', (r) => {
    if (tok && r.url().includes(tok)) problems.push(`${name}: the token appears in a request URL: ${r.url()}`);
    if (!r.url().startsWith(origin(url)) && !r.url().startsWith('data:')) problems.push(`${name}: request outside the node: ${r.url()}`);
  });
  await page.goto(url);
  pages.push([name, page]);
  return page;
}

async function shot(page, name) {
  const file = path.join(SHOTS, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  log(`screenshot ${file}`);
}

async function go(page, route) {
  await page.evaluate((r) => (location.hash = r), route);
  await page.waitForFunction((r) => location.hash.startsWith(r), route);
}

const h1 = (page, text) => page.locator('main h1', { hasText: text }).waitFor();

try {
  // --- node A: dashboard, token handling --------------------------------------------------
  const a = await openPage(A_URL, 'A');
  await h1(a, 'Dashboard');
  log('A: the dashboard opened');
  const hash = await a.evaluate(() => location.hash);
  assert.ok(!hash.includes('token'), `the token is taken out of the address bar (hash is ${hash})`);
  assert.equal(await a.evaluate(() => sessionStorage.getItem('trove.token')), tokenOf(A_URL), 'the token is kept in sessionStorage');
  await a.locator('[data-testid="node-id"]').waitFor();
  assert.match(await a.locator('[data-testid="node-id"]').innerText(), /^[0-9a-f]{40}$/);
  await a.locator('.conn-open').waitFor();
  log('A: the event stream is connected');
  await shot(a, 'a-dashboard');

  // --- A publishes the folder --------------------------------------------------------------
  await go(a, '#/shares');
  await h1(a, 'My shares');
  await a.getByLabel('Add a path').fill('relative/path');
  await a.getByRole('button', { name: 'Add', exact: true }).click();
  await a.getByText('Give the full path of a file or folder').first().waitFor();
  log('A: a relative path is refused with a readable message');
  // Choose the folder with the folder browser of the daemon's machine.
  await a.getByRole('button', { name: 'Browse…' }).click();
  // The picker first lists the home folder and puts its path in the field; a fill racing that
  // listing can land after the home path instead of replacing it ("/root/tmp/…"), so the
  // listing is awaited first.
  await a.waitForFunction(() => document.querySelector('dialog[open] #picker-path-input')?.value !== '');
  await a.locator('dialog[open] #picker-path-input').fill(PUBLISH_DIR);
  await a.locator('dialog[open]').getByRole('button', { name: 'Go' }).click();
  await a.locator('dialog[open]').getByRole('button', { name: 'Open folder photos' }).waitFor();
  await a.locator('dialog[open]').getByLabel('Select video.bin').waitFor();
  await shot(a, 'a-shares-picker');
  await a.locator('dialog[open]').getByRole('button', { name: 'Add this whole folder' }).click();
  await a.locator('dialog[open]').waitFor({ state: 'detached' });
  await a.locator('.list .mono', { hasText: PUBLISH_DIR }).waitFor();
  log('A: the folder was chosen in the folder browser');
  await a.getByLabel('Title').fill('Holiday photos');
  await a.getByLabel('Description').fill('Pictures and notes from the summer');
  await a.getByLabel('Tags').fill('family, 2024');
  await a.locator('input[name="public"]').check();
  await a.getByRole('button', { name: 'Publish', exact: true }).click();
  await a.locator('[data-testid="publish-result"]').waitFor();
  const link = (await a.locator('[data-testid="share-link"]').innerText()).trim();
  assert.match(link, /^scp2p:\/\/s\/[A-Za-z0-9_-]+\?bp=/, `the link carries bootstrap hints: ${link}`);
  log(`A: published, link ${link.slice(0, 40)}…`);
  await a.locator('[data-share] .list-title', { hasText: 'Holiday photos' }).waitFor();
  await shot(a, 'a-shares');
  await a.getByRole('button', { name: 'Show QR code' }).click();
  await a.locator('dialog[open] svg.qr').waitFor();
  const cells = await a.locator('dialog[open] svg.qr path').getAttribute('d');
  assert.ok(cells && cells.length > 100, 'the QR code has modules');
  await shot(a, 'a-shares-qr');
  await a.keyboard.press('Escape');
  await a.locator('dialog[open]').waitFor({ state: 'detached' });
  log('A: the QR code shows and Escape closes it');

  // Export key needs a confirmation first.
  await a.getByRole('button', { name: 'Export key…' }).first().click();
  await a.getByText('Whoever has this key can publish revisions').first().waitFor();
  assert.equal(await a.locator('[data-testid="share-key"]').count(), 0, 'no key before confirming');
  await a.getByRole('button', { name: 'Show the secret key' }).click();
  await a.locator('[data-testid="share-key"]').waitFor();
  assert.match(await a.locator('[data-testid="share-key"]').innerText(), /^[0-9a-f]{64}$/);
  await a.getByRole('button', { name: 'Done' }).click();
  log('A: the share key is shown only after the confirmation');

  // --- node B: bad input, unreachable peers, subscribe by link ----------------------------
  const b = await openPage(B_URL, 'B');
  await h1(b, 'Dashboard');
  await go(b, '#/discover');
  await h1(b, 'Discover');
  const target = b.getByLabel('Share link or id');
  const subscribe = b.locator('form', { has: b.locator('#sub-h') }).getByRole('button', { name: 'Subscribe' });

  await target.fill('not a link');
  await subscribe.click();
  await b.getByText('is neither a share link').first().waitFor();
  log('B: text that is not a link is refused before asking the node');

  await target.fill('scp2p://s/garbage');
  await subscribe.click();
  const bad = b.locator('.msg-error', { hasText: 'Could not subscribe' });
  await bad.waitFor();
  const badText = await bad.innerText();
  assert.ok(badText.length > 30 && !/undefined|\[object/.test(badText), `a readable error: ${badText}`);
  log(`B: a bad link is refused: ${badText.replace(/\s+/g, ' ')}`);

  await target.fill(UNREACHABLE_LINK);
  await subscribe.click();
  const warn = b.locator('[data-testid="subscribe-warning"]');
  await warn.waitFor();
  assert.match(await warn.innerText(), /could not be fetched yet/);
  log(`B: an unreachable publisher is reported: ${(await warn.innerText()).replace(/\s+/g, ' ').slice(0, 160)}`);
  await shot(b, 'b-discover-errors');

  await target.fill(link);
  await subscribe.click();
  await b.getByText('Subscribed to Holiday photos').first().waitFor();
  await b.locator('[data-testid="share-view"] h2', { hasText: 'Holiday photos' }).waitFor();
  await b.locator('.tree input[data-path="notes"]').waitFor();
  log('B: subscribed by link; the share opened as a tree');
  await b.locator('.list-item', { hasText: 'Holiday photos' }).locator('.badge-seq', { hasText: 'rev 1' }).waitFor();

  // Tri-state folders: open "photos", check it, uncheck one file.
  await b.getByRole('button', { name: 'Open photos' }).click();
  await b.locator('.tree input[data-path="photos/beach.jpg"]').waitFor();
  await b.locator('.tree input[data-path="photos"]').check();
  assert.ok(await b.locator('.tree input[data-path="photos/beach.jpg"]').isChecked(), 'checking a folder checks its files');
  await b.locator('.tree input[data-path="photos/beach.jpg"]').uncheck();
  await b.waitForFunction(() => document.querySelector('.tree input[data-path="photos"]').indeterminate === true);
  log('B: a folder with some files checked shows as mixed');
  const dlButton = b.locator('[data-testid="download-button"]');
  await b.waitForFunction(() => /Download 1 file ·/.test(document.querySelector('[data-testid="download-button"]').textContent));
  await b.getByRole('button', { name: 'Select all' }).click();
  await b.waitForFunction(() => /Download 4 files ·/.test(document.querySelector('[data-testid="download-button"]').textContent));
  // The folder is no longer mixed (fails by timing out if it stays so).
  await b.waitForFunction(() => document.querySelector('.tree input[data-path="photos"]').indeterminate === false, null, { timeout: 5000 });
  assert.equal(await b.locator('.tree input[data-path="photos"]').isChecked(), true);
  log(`B: select all: ${(await dlButton.innerText()).trim()}`);
  await b.locator('input[name="out_dir"]').fill(OUT_DIR);
  await shot(b, 'b-discover');
  await dlButton.click();
  await b.getByText('downloading.').first().waitFor();
  log('B: the download started');

  // --- downloads reach 100% -----------------------------------------------------------------
  await go(b, '#/downloads');
  await h1(b, 'Downloads');
  await b.locator('[data-download]').first().waitFor();
  // The big file downloads at the 1 MiB/s limit: its row shows progress, rate, time left, peers.
  const video = b.locator('tr[data-download]', { hasText: 'video.bin' });
  await b.waitForFunction(() => {
    const r = [...document.querySelectorAll('tr[data-download]')].find((x) => x.textContent.includes('video.bin'));
    if (!r || r.dataset.state !== 'running') return false;
    const v = r.querySelector('progress').value;
    return v > 0 && v < 100 && /\/s/.test(r.querySelector('[data-label="Rate"]').textContent)
      && /\d/.test(r.querySelector('[data-label="Peers"]').textContent);
  });
  await b.locator('[data-testid="downloads-total"]').waitFor();
  log(`B: downloading: ${(await video.innerText()).replace(/\s+/g, ' ')}`);
  await shot(b, 'b-downloads-running');
  await video.getByRole('button', { name: 'Pause video.bin' }).click();
  await b.locator('tr[data-download][data-state="paused"]', { hasText: 'video.bin' }).waitFor();
  const pausedAt = await video.locator('progress').evaluate((p) => p.value);
  assert.ok(pausedAt < 100, 'paused before the end');
  log(`B: paused at ${pausedAt.toFixed(1)}%`);
  await video.getByRole('button', { name: 'Resume video.bin' }).click();
  await b.waitForFunction(
    () => {
      const rows = [...document.querySelectorAll('[data-download]')];
      return rows.length === 4 && rows.every((r) => r.dataset.state === 'complete' && r.querySelector('progress').value === 100);
    },
    null,
    { timeout: 120_000 },
  );
  log('B: every download is complete at 100%');
  await shot(b, 'b-downloads');
  await b.getByRole('button', { name: /Open the folder of/ }).first().click();
  await b.locator('.toast, .msg-error', { hasText: OUT_DIR }).first().waitFor();
  log(`B: "open folder" answered: ${(await b.locator('.toast, .msg-error', { hasText: OUT_DIR }).first().innerText()).slice(0, 160)}`);

  // --- search -------------------------------------------------------------------------------
  await go(b, '#/search');
  await h1(b, 'Search');
  await b.getByLabel('Words').fill('beach');
  await b.locator('.hit mark, [data-testid="search-unavailable"]').first().waitFor();
  if (await b.locator('[data-testid="search-unavailable"]').count()) {
    log('B: search answers that it is not available in this build yet (shown in words)');
  } else {
    assert.equal((await b.locator('.hit mark').first().innerText()).toLowerCase(), 'beach');
    log('B: search found beach.jpg with the match highlighted');
    // Download straight from the hit, into another folder.
    await b.getByRole('button', { name: 'Download beach.jpg' }).click();
    await b.locator('dialog[open]').getByLabel('Into the folder').fill(path.join(OUT_DIR, 'from-search'));
    await b.locator('dialog[open]').getByRole('button', { name: 'Download', exact: true }).click();
    await b.locator('dialog[open]').waitFor({ state: 'detached' });
    await go(b, '#/downloads');
    await b.locator('tr[data-download][data-state="complete"]', { hasText: 'from-search' }).waitFor();
    log('B: the hit was downloaded from the search page');
    await go(b, '#/search');
    await h1(b, 'Search');
    await b.getByLabel('Words').fill('beach');
    await b.locator('.hit mark').first().waitFor();
  }
  await b.getByLabel('At least').fill('lots');
  await b.getByText('A size is a number with an optional unit').first().waitFor();
  await b.getByLabel('At least').fill('');
  await shot(b, 'b-search');

  // --- dashboard of B sees A ----------------------------------------------------------------
  await go(b, '#/dashboard');
  await h1(b, 'Dashboard');
  await b.waitForFunction(() => Number(document.querySelector('[data-testid="peers-count"]')?.textContent) >= 1);
  log('B: the dashboard lists the publisher as a peer');
  await shot(b, 'b-dashboard');

  // --- communities --------------------------------------------------------------------------
  await go(b, '#/communities');
  await h1(b, 'Communities');
  await b.locator('form', { has: b.locator('#join-h') }).getByRole('button', { name: 'Join' }).click();
  await b.getByText('A community link starts with scp2p://s/.').first().waitFor();
  await b.getByLabel('Name', { exact: true }).fill('Photo club');
  await b.getByRole('button', { name: 'Create', exact: true }).click();
  await b.locator('#comm-h', { hasText: 'Photo club' }).waitFor();
  await b.locator('.list-item', { hasText: 'Photo club' }).waitFor();
  log('B: created a community; it is listed and opened');
  await shot(b, 'b-communities');

  // --- a new revision reaches B live, marked as new ---------------------------------------------
  await go(b, '#/discover');
  await h1(b, 'Discover');
  const item = b.locator('.list-item', { hasText: 'Holiday photos' });
  await item.locator('.badge-seq', { hasText: 'rev 1' }).waitFor();
  assert.equal(await item.locator('.badge-new').count(), 0, 'no mark before a new revision');
  await go(a, '#/shares');
  await h1(a, 'My shares');
  await a.getByRole('button', { name: 'New revision' }).first().click();
  await a.getByText('Publishing revision 2 of').first().waitFor();
  await a.getByLabel('Add a path').fill(PUBLISH_DIR);
  await a.getByRole('button', { name: 'Add', exact: true }).click();
  await a.getByRole('button', { name: 'Publish revision' }).click();
  await a.locator('[data-testid="publish-result"]', { hasText: 'revision 2' }).waitFor();
  log('A: published revision 2 from the New revision form');
  await item.locator('.badge-new', { hasText: 'new revision' }).waitFor({ timeout: 120_000 });
  await item.locator('.badge-seq', { hasText: 'rev 2' }).waitFor();
  log('B: the new revision arrived by itself and is marked');
  await shot(b, 'b-discover-new-revision');
  await item.click();
  await b.locator('[data-testid="share-view"] .badge-seq', { hasText: 'revision 2' }).waitFor();
  await item.locator('.badge-new').waitFor({ state: 'detached' });
  log('B: opening the share clears the mark');

  // --- settings: validation, save -------------------------------------------------------------
  await go(b, '#/settings');
  await h1(b, 'Settings');
  await b.locator('input[name="listen_tcp"]').fill('nonsense');
  await b.locator('input[name="download_limit_kib"]').fill('-5');
  await b.getByRole('button', { name: 'Save settings' }).click();
  await b.getByText('is not an IP address with a port').first().waitFor();
  await b.getByText('A whole number.').first().waitFor();
  // The focus moves in an effect after the messages are painted: wait for it, then check.
  await b.waitForFunction(() => document.activeElement?.name === 'listen_tcp', null, { timeout: 10_000 }).catch(() => {});
  assert.equal(await b.evaluate(() => document.activeElement.name), 'listen_tcp', 'focus moves to the first field to fix');
  log('B: invalid settings are explained next to their fields');
  await shot(b, 'b-settings-invalid');
  await b.getByRole('button', { name: 'Undo changes' }).click();
  await b.locator('input[name="download_limit_kib"]').fill('2048');
  await b.getByRole('button', { name: 'Save settings' }).click();
  await b.getByText('Restart trove serve to apply: download_limit_kib').first().waitFor();
  log('B: a valid change is saved, with what needs a restart');
  await shot(b, 'b-settings');

  // --- keyboard -------------------------------------------------------------------------------
  const k = await openPage(B_URL, 'keyboard');
  await h1(k, 'Dashboard');
  await k.keyboard.press('Tab');
  const firstFocus = await k.evaluate(() => document.activeElement.outerHTML.slice(0, 120));
  assert.ok(firstFocus.includes('Skip to the page'), `the first Tab reaches the skip link, not ${firstFocus}`);
  let reached = false;
  for (let i = 0; i < 12 && !reached; i++) {
    await k.keyboard.press('Tab');
    reached = await k.evaluate(() => document.activeElement.matches('nav a[href="#/downloads"]'));
  }
  assert.ok(reached, 'the navigation is reachable with Tab');
  const outline = await k.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'the focused link shows a focus ring');
  await k.keyboard.press('Enter');
  await h1(k, 'Downloads');
  await k.waitForFunction(() => document.activeElement.matches('main h1'));
  log('B: keyboard: skip link, Tab to the navigation, Enter opens the page and focus lands on its heading');

  // --- a narrow window ------------------------------------------------------------------------
  const n = await openPage(B_URL, 'narrow', { width: 380, height: 800 });
  await h1(n, 'Dashboard');
  for (const [route, title] of [['#/dashboard', 'Dashboard'], ['#/discover', 'Discover'], ['#/shares', 'My shares'],
    ['#/search', 'Search'], ['#/downloads', 'Downloads'], ['#/communities', 'Communities'], ['#/settings', 'Settings']]) {
    await go(n, route);
    await h1(n, title);
    await n.locator('main .card').first().waitFor();
    const overflow = await n.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `${title}: nothing sticks out of a 380 px wide window (by ${overflow} px)`);
    await shot(n, 'narrow-' + route.slice(2));
  }
  log('B: every page fits a 380 px wide window');

  // --- dark mode follows the system -------------------------------------------------------------
  const dark = await openPage(B_URL, 'dark', { width: 1280, height: 900 }, 'dark');
  await h1(dark, 'Dashboard');
  await go(dark, '#/discover');
  await dark.locator('.list-item', { hasText: 'Holiday photos' }).click();
  await dark.locator('.tree input[data-path="notes"]').waitFor();
  const bg = await dark.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  assert.equal(bg, 'rgb(19, 24, 22)', 'the dark theme is used');
  await shot(dark, 'dark-discover');

  // --- no token, wrong token -----------------------------------------------------------------
  const t = await openPage(origin(B_URL) + '/', 'login');
  await t.getByLabel('API token').waitFor();
  await t.getByLabel('API token').fill('00112233445566778899aabbccddeeff');
  await t.getByRole('button', { name: 'Open' }).click();
  await t.getByText('This token was refused').first().waitFor();
  await shot(t, 'login-refused');
  await t.getByLabel('API token').fill(tokenOf(B_URL));
  await t.getByRole('button', { name: 'Open' }).click();
  await h1(t, 'Dashboard');
  log('without a token the page asks for it; a wrong one is refused, the right one opens it');

  assert.deepEqual(problems, [], 'no script error, CSP violation, token in a URL or request elsewhere');
  console.log(`[ui-e2e] passed: ${step} steps`);
} catch (e) {
  console.error(`[ui-e2e] FAILED after step ${step} (${((Date.now() - t0) / 1000).toFixed(1)}s):`, e);
  for (const [name, page] of pages) {
    const file = path.join(SHOTS, `failure-${name}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => null);
    console.error(`[ui-e2e] ${name} was at ${page.url().replace(/#token=.*/, '#token=…')}; screenshot ${file}`);
  }
  if (problems.length) console.error('[ui-e2e] problems seen:', problems);
  process.exitCode = 1;
} finally {
  await browser.close();
}
