// End-to-end check of the netlens dashboard in headless Debian chromium (playwright-core).
//
//   node e2e.mjs URL SCREENSHOT [--expect-text TEXT]... [--filter-term TERM]
//   node e2e.mjs URL SCREENSHOT --history
//
// Opens URL, waits for data, and checks: KPIs fill and change over time (netlens runs with
// --pace, so numbers grow), the timeline has points, the tables have rows, the text filters
// filter, no page errors, and `window.__pwned` stays undefined (packet-derived text is never
// run as HTML). Every --expect-text must appear on the page as text. Prints one JSON line of
// what it saw; exits 1 with a reason on the first failed check.
//
// --history: the page of `netlens serve` (a database, no capture): KPIs, chart and tables fill
// from /api/history, and picking a shorter range redraws the chart with fewer points.
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const url = args[0];
const screenshot = args[1];
const expectTexts = [];
let filterTerm = null;
let historyMode = false;
for (let i = 2; i < args.length; i++) {
  if (args[i] === '--history') historyMode = true;
  else if (args[i] === '--expect-text') expectTexts.push(args[++i]);
  else if (args[i] === '--filter-term') filterTerm = args[++i];
}
if (!url || !screenshot) {
  console.error('usage: node e2e.mjs URL SCREENSHOT [--expect-text TEXT]... [--filter-term TERM]');
  process.exit(2);
}

function fail(msg) {
  console.error('e2e: ' + msg);
  process.exitCode = 1;
  throw new Error(msg);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // Root in CI: chromium's sandbox needs user namespaces it may not have there.
  args: ['--no-sandbox'],
});
const seen = {};
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  page.on('response', (r) => { if (r.status() >= 400) pageErrors.push(r.status() + ' ' + r.url()); });
  // Count requests that leave the server: the page must need no internet.
  const origin = new URL(url).origin;
  const foreign = [];
  page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) foreign.push(r.url()); });

  await page.goto(url);
  const text = (id) => page.locator('#' + id).textContent();
  const rows = (id) => page.locator('#' + id + ' tr').count();

  if (historyMode) {
    await checkHistory(page);
  } else {
    // KPIs fill.
    await page.waitForFunction(() => document.getElementById('kpi-packets').textContent !== '–', null, { timeout: 10000 });
    const first = await text('kpi-packets');
    // ... and change while the paced file plays (publications come once a second).
    try {
      await page.waitForFunction((v) => document.getElementById('kpi-packets').textContent !== v, first, { timeout: 5000 });
    } catch {
      fail('the packet count stayed at ' + first + ' for 5 s');
    }
    seen.packets_first = first;
    seen.packets_later = await text('kpi-packets');
    seen.state = await text('run-state');

    // Timeline points and table rows.
    await page.waitForFunction(() => Number(document.getElementById('timeline').dataset.points || 0) > 1, null, { timeout: 5000 })
      .catch(() => fail('the timeline has no data points'));
    seen.timeline_points = Number(await page.locator('#timeline').getAttribute('data-points'));
    if (!(await page.locator('#timeline canvas').count())) fail('no chart canvas');
    for (const id of ['hosts-body', 'flows-body', 'packets-body']) {
      const n = await rows(id);
      if (n === 0) fail(id + ' has no rows');
      seen[id] = n;
    }
    const protocolBars = await page.locator('#protocols .bar-row').count();
    if (protocolBars === 0) fail('no protocol bars');
    seen.map_nodes = await page.locator('#map circle').count();
    if (seen.map_nodes === 0) fail('the network map has no nodes');

    // Filters: a term from the data keeps only matching rows; nonsense keeps none.
    const term = filterTerm || (await page.locator('#packets-body tr td:nth-child(2)').first().textContent());
    await page.fill('#packets-filter', term);
    const kept = await page.locator('#packets-body tr').allTextContents();
    if (kept.length === 0) fail('the packet filter "' + term + '" kept nothing');
    for (const r of kept) if (!r.toLowerCase().includes(term.toLowerCase())) fail('the packet filter kept a row without "' + term + '": ' + r);
    seen.packet_filter = { term, kept: kept.length };
    await page.fill('#packets-filter', 'no-such-thing-zz');
    if ((await rows('packets-body')) !== 0) fail('the packet filter kept rows for nonsense');
    await page.fill('#packets-filter', '');
    await page.fill('#flows-filter', 'no-such-thing-zz');
    if ((await rows('flows-body')) !== 0) fail('the connection filter kept rows for nonsense');
    await page.fill('#flows-filter', '');

    // Sorting the host table by bytes out puts the largest first.
    await page.click('#hosts th[data-sort="bytes_out"]');
    seen.sorted_header = await page.locator('#hosts th.sorted').getAttribute('data-sort');
    if (seen.sorted_header !== 'bytes_out') fail('clicking a header did not sort by it');

    // Untrusted text is shown as text.
    const body = await page.locator('body').innerText();
    for (const t of expectTexts) {
      await page.waitForFunction((t) => document.body.innerText.includes(t), t, { timeout: 5000 })
        .catch(() => fail('the page does not show ' + JSON.stringify(t) + ' as text'));
    }
    seen.expected_texts = expectTexts.length;
    const pwned = await page.evaluate(() => typeof window.__pwned);
    if (pwned !== 'undefined') fail('window.__pwned is ' + pwned + ': packet text ran as script');
    const injected = await page.locator('main img, main script').count();
    if (injected) fail(injected + ' img/script elements were injected into the page');
    seen.pwned = pwned;
    if (pageErrors.length) fail('page errors: ' + pageErrors.join(' | '));
    if (foreign.length) fail('the page requested other origins: ' + foreign.join(' '));
    seen.body_chars = body.length;
  }

  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify(seen));
} catch (e) {
  if (!process.exitCode) {
    console.error('e2e: ' + e.message);
    process.exitCode = 1;
  }
} finally {
  await browser.close();
}

async function checkHistory(page) {
  const points = () => page.locator('#timeline').getAttribute('data-points').then(Number);
  await page.waitForFunction(() => document.getElementById('run-state').textContent === 'history', null, { timeout: 10000 })
    .catch(() => fail('the page never showed the history state'));
  await page.waitForFunction(() => Number(document.getElementById('timeline').dataset.points || 0) > 1, null, { timeout: 10000 })
    .catch(() => fail('the history chart has no points'));
  seen.packets = await page.locator('#kpi-packets').textContent();
  if (seen.packets === '–' || seen.packets === '0') fail('no packets in the history KPIs');
  seen.all_points = await points();
  seen.hosts = await page.locator('#hosts-body tr').count();
  seen.flows = await page.locator('#flows-body tr').count();
  if (!seen.hosts || !seen.flows) fail('history tables are empty');
  if ((await page.locator('#flows-title').textContent()) !== 'Largest flows in the range') fail('flows title');
  await page.selectOption('#range', '15m');
  await page.waitForFunction((n) => Number(document.getElementById('timeline').dataset.points) !== n, seen.all_points, { timeout: 10000 })
    .catch(() => fail('picking 15 minutes did not redraw the chart'));
  seen.range_points = await points();
  if (!(seen.range_points > 0 && seen.range_points < seen.all_points)) fail('15 minutes should have fewer points: ' + seen.range_points);
  seen.packets_15m = await page.locator('#kpi-packets').textContent();
  if (seen.packets_15m === seen.packets) fail('the KPIs did not follow the range');
  seen.pwned = await page.evaluate(() => typeof window.__pwned);
}
