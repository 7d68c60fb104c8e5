// Takes the README's workspace screenshots (docs/workspace-*.png) from a running server:
//   node server/tests/ui/docs.mjs http://127.0.0.1:9710 TOKEN docs/
// The server should hold some incidents: this script starts the three demo stories and two
// scenarios on its demo page, waits for their incidents, and photographs the pages.
import { chromium } from 'playwright-core';
import path from 'node:path';

const [base, token, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
await page.goto(base + '/ui/login');
await page.fill('#token', token);
await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
for (const story of ['ldap-login-timeout', 'provider-connectivity', 'release-drift']) {
  await page.goto(base + '/ui/demo');
  await Promise.all([page.waitForNavigation(), page.click(`#start-${story}`)]);
}
for (const scenario of ['crash-loop', 'memory-leak']) {
  await page.goto(base + '/ui/demo');
  await page.selectOption('#scenario', scenario);
  await Promise.all([page.waitForNavigation(), page.click('#start-scenario')]);
}
// Every run done, and the incidents in.
for (let i = 0; i < 240; i++) {
  await page.goto(base + '/ui/demo');
  const running = await page.locator('#demo-live td:has-text("%")').count();
  if (running === 0) break;
  await page.waitForTimeout(1000);
}
await page.waitForTimeout(3000);
const shot = (name) => page.screenshot({ path: path.join(out, `workspace-${name}.png`), fullPage: false });
await page.goto(base + '/ui/incidents');
await shot('incidents');
const ldap = page.locator('table.incidents tr', { hasText: 'auth-api' }).first().locator('a.title');
const href = await ldap.getAttribute('href');
for (const tab of ['summary', 'ai', 'signals', 'actions']) {
  await page.goto(base + href + '?tab=' + tab);
  await shot('drawer-' + tab);
}
await page.goto(base + '/ui/approvals');
await shot('approvals');
await page.goto(base + '/ui/rules');
await shot('rules');
await browser.close();
