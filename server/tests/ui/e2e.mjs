// Drives the operator workspace of a running `srebot serve` in Debian's headless Chromium
// (playwright-core, executablePath /usr/bin/chromium; no browser is downloaded).
// Called by server/tests/ui_browser.rs with a JSON config; prints one JSON result line.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const base = cfg.base;
const shots = cfg.screenshots;
fs.mkdirSync(shots, { recursive: true });
const result = { screenshots: [] };
const log = (...a) => console.error('[e2e]', ...a);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run'],
});

// Screenshots are checked not blank by decoding them in the browser and counting colours.
async function notBlank(file) {
  const page = await browser.newPage();
  const data = fs.readFileSync(file).toString('base64');
  const stats = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const px = g.getImageData(0, 0, c.width, c.height).data;
    const colours = new Set();
    let ink = 0;
    const first = px[0] + ',' + px[1] + ',' + px[2];
    for (let i = 0; i < px.length; i += 4 * 7) {
      const k = px[i] + ',' + px[i + 1] + ',' + px[i + 2];
      colours.add(k);
      if (k !== first) ink++;
    }
    return { colours: colours.size, ink: ink / (px.length / (4 * 7)), w: c.width, h: c.height };
  }, data);
  await page.close();
  return stats;
}

async function shot(page, name) {
  const file = path.join(shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const stats = await notBlank(file);
  if (stats.colours < 8 || stats.ink < 0.01) {
    throw new Error(`screenshot ${name} looks blank: ${JSON.stringify(stats)}`);
  }
  result.screenshots.push({ name, ...stats });
}

async function signIn(context, token) {
  const page = await context.newPage();
  page.on('pageerror', (e) => { log('page error', e.message); result.pageErrors = (result.pageErrors || 0) + 1; });
  await page.goto(base + '/ui/login');
  await page.fill('#token', token);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  return page;
}

try {
  // Sign in (the sign-in page first, for its screenshot).
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const pre = await ctx.newPage();
  await pre.goto(base + '/ui/login');
  await shot(pre, 'login');
  await pre.close();
  const list = await signIn(ctx, cfg.approver_token);
  if (!list.url().endsWith('/ui/incidents')) throw new Error('sign-in landed on ' + list.url());
  const cookies = await ctx.cookies();
  const session = cookies.find((c) => c.name === 'srebot_session');
  if (!session || !session.httpOnly || session.sameSite !== 'Strict') {
    throw new Error('session cookie attributes: ' + JSON.stringify(session));
  }
  result.cookie = { httpOnly: session.httpOnly, sameSite: session.sameSite, expires: session.expires > 0 };
  await list.evaluate(() => { window.__notReloaded = 'kept'; });
  const before = await list.locator('table.incidents tr[id^="row-"]').count();
  log('rows before the demo', before);

  // Start a demo scenario from the demo page, in another tab.
  const demo = await ctx.newPage();
  await demo.goto(base + '/ui/demo');
  await demo.selectOption('#scenario', 'crash-loop');
  await Promise.all([demo.waitForNavigation(), demo.click('#start-scenario')]);
  if (!(await demo.content()).includes('Demo started')) throw new Error('demo did not start');

  // The incident row appears in the list without a reload (Server-Sent Events + htmx).
  await list.waitForFunction(() => {
    return [...document.querySelectorAll('table.incidents tr[id^="row-"]')]
      .some((tr) => tr.textContent.includes('payments-api') && tr.textContent.toLowerCase().includes('crash loop'));
  }, null, { timeout: 180000 });
  const marker = await list.evaluate(() => window.__notReloaded);
  if (marker !== 'kept') throw new Error('the list page was reloaded');
  result.liveRow = true;
  const rowLink = list.locator('table.incidents tr[id^="row-"]', { hasText: 'payments-api' }).first().locator('a.title');
  const href = await rowLink.getAttribute('href');
  result.incident = href.split('/').pop();
  await shot(list, 'incidents');
  log('incident', result.incident);

  // The robot asks for a restart of payments-api: wait for the approval.
  const approvals = demo;
  let restartId = null;
  let otherId = null;
  for (let i = 0; i < 120 && (!restartId || !otherId); i++) {
    await approvals.goto(base + '/ui/approvals');
    const items = approvals.locator('.approval');
    const n = await items.count();
    for (let k = 0; k < n; k++) {
      const text = await items.nth(k).textContent();
      const id = (await items.nth(k).getAttribute('id')).replace('approval-', '');
      if (text.includes('restart_deployment') && text.includes('deployment/shop/payments-api')) restartId = id;
      if (text.includes('restart_deployment') && text.includes('deployment/shop/checkout')) otherId = id;
    }
    if (!restartId || !otherId) await approvals.waitForTimeout(1000);
  }
  if (!restartId || !otherId) throw new Error(`approvals not found: ${restartId} ${otherId}`);
  result.restartApproval = restartId;
  result.rejectedApproval = otherId;
  await shot(approvals, 'approvals');

  // Open every tab of the drawer (htmx partial swaps, no page load).
  await list.click(`a.title[href="${href}"]`);
  await list.waitForSelector('.drawer nav.tabs');
  for (const [tab, label] of [['summary', 'Summary'], ['ai', 'AI Workspace'], ['signals', 'Signals'], ['actions', 'Actions']]) {
    if (tab !== 'summary') {
      await list.click(`nav.tabs a:has-text("${label}")`);
      await list.waitForSelector(`.tab-body[data-tab="${tab}"]`, { timeout: 30000 });
    }
    const text = await list.locator('.tab-body').textContent();
    const expect = { summary: 'Executive summary', ai: 'Ranked hypotheses', signals: 'Evidence', actions: 'Proposed actions' }[tab];
    if (!text.includes(expect)) throw new Error(`tab ${tab} lacks ${expect}`);
    await shot(list, `drawer-${tab}`);
  }
  // An evidence chip jumps to the evidence.
  await list.click('nav.tabs a:has-text("AI Workspace")');
  await list.waitForSelector('.tab-body[data-tab="ai"]');
  const chip = list.locator('a.chip').first();
  if (await chip.count()) {
    const target = (await chip.getAttribute('href')).split('#')[1];
    await chip.click();
    await list.waitForSelector('#' + target, { timeout: 15000 }).catch(() => {});
    result.chipTarget = await list.evaluate((id) => !!document.getElementById(id), target);
  }
  // Run a read-only tool of the plan.
  await list.goto(base + href + '?tab=ai');
  const run = list.locator('a.run').first();
  if (await run.count()) {
    await run.click();
    await list.waitForSelector('.tool-out .tool-result', { timeout: 30000 });
    result.toolRan = true;
  }

  // Approve the pending restart from the Actions tab.
  await list.goto(base + href + '?tab=actions');
  const approve = list.locator(`form[action="/ui/approvals/${restartId}/approve"] button`);
  await Promise.all([list.waitForNavigation(), approve.click()]);
  const after = await list.content();
  if (!after.includes('Approved; the action ran under policy.')) {
    throw new Error('approval not confirmed: ' + (await list.locator('.error').allTextContents()).join(' '));
  }
  result.approved = true;
  await shot(list, 'drawer-actions-approved');

  // Reject the other one from the inbox, with a reason.
  await approvals.goto(base + '/ui/approvals');
  const rejectForm = approvals.locator(`form[action="/ui/approvals/${otherId}/reject"]`);
  await rejectForm.locator('input[name=reason]').fill('checkout is being redeployed by its team');
  await Promise.all([approvals.waitForNavigation(), rejectForm.locator('button').click()]);
  if (!(await approvals.content()).includes('Rejected.')) throw new Error('reject not confirmed');
  result.rejected = true;

  // The other pages.
  for (const [name, p] of [['audit', '/ui/audit'], ['rules', '/ui/rules'], ['settings', '/ui/settings'], ['demo', '/ui/demo']]) {
    await approvals.goto(base + p);
    await shot(approvals, name);
  }

  // A cross-site form POST (another site's page submitting to the workspace) is refused.
  const evil = http.createServer((req, res) => {
    const action = new URL(req.url, 'http://localhost').searchParams.get('to');
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><form method="post" action="${action}"><input name="csrf" value="guess"></form>` +
            '<script>document.forms[0].submit()</script>');
  });
  await new Promise((r) => evil.listen(0, '127.0.0.1', r));
  const evilPort = evil.address().port;
  const attacked = await ctx.newPage();
  const to = `${base}/ui/incidents/${result.incident}/ack`;
  const [response] = await Promise.all([
    attacked.waitForResponse((r) => r.url() === to, { timeout: 30000 }),
    attacked.goto(`http://localhost:${evilPort}/?to=${encodeURIComponent(to)}`),
  ]);
  result.crossSite = { status: response.status(), body: (await response.text()).slice(0, 400) };
  evil.close();

  // A read token: no approve button is offered, and posting anyway is refused with 403.
  const readCtx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const reader = await signIn(readCtx, cfg.read_token);
  await reader.goto(base + href + '?tab=actions');
  result.readApproveButtons = await reader.locator('button.approve').count();
  await reader.goto(base + '/ui/approvals');
  result.readApproveButtons += await reader.locator('button.approve').count();
  const csrf = await reader.locator('input[name=csrf]').first().getAttribute('value');
  result.readPost = await reader.evaluate(async ([id, csrf]) => {
    const r = await fetch(`/ui/approvals/${id}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-csrf-token': csrf },
      body: 'csrf=' + encodeURIComponent(csrf),
      redirect: 'manual',
    });
    return { status: r.status, body: (await r.text()).slice(0, 300) };
  }, [restartId, csrf]);
  result.ok = true;
} catch (e) {
  result.ok = false;
  result.error = String(e && e.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
