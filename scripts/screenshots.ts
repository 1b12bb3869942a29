/**
 * `npm run screenshots`: PNG screenshots of every web page into docs/screenshots/ (README shows
 * one). Starts `npm start` on a free port with a throw-away data folder, fills an account with a
 * few backups and a key, signs in on /dashboard with the code from the local mailbox, frames
 * /getapikey from a stand-in Moodle page (as the plugin does), then stops what it started.
 *
 *   npm run screenshots            # needs Debian's /usr/bin/chromium (apt-get install chromium)
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './services/index.js';
import { codeFromMailbox, launchChromium } from '../test/web/browser.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = resolve(ROOT, 'docs/screenshots');

async function waitFor(url: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

async function json(method: string, url: string, body: unknown, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method, headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const data = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${String(data.message)}`);
  return data;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vault-screens-'));
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  // Own process group, so that stopping it also stops DynamoDB Local and the rest it started.
  const server = spawn(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'lambdas/local/start.ts')], {
    cwd: ROOT, env: { ...process.env, PORT: String(port), VAULT_DATA_DIR: dataDir }, stdio: 'ignore', detached: true,
  });
  const moodle = createServer((req, res) => {
    const siteurl = `http://localhost:${(moodle.address() as AddressInfo).port}/moodle`;
    if (req.url !== '/moodle/vault') return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<!doctype html><html><head><title>Vault</title><link rel="icon" href="data:,"></head>
<body style="margin:0"><iframe style="border:0;width:800px;height:500px" src="${api}/getapikey?siteid=SITE1&amp;siteurl=${encodeURIComponent(siteurl)}&amp;tab=signup"></iframe></body></html>`);
  });
  await new Promise<void>((r) => moodle.listen(0, '127.0.0.1', () => r()));
  const browser = await launchChromium();
  try {
    await waitFor(`${api}/health`, 120_000);
    mkdirSync(OUT, { recursive: true });
    const email = 'admin@moodle.example.org';
    const { apikey } = (await json('POST', `${api}/account/register`, { email })) as { apikey: string };
    const site = { 'X-Api-Key': apikey, 'X-Vault-Siteid': 'SITE1' };
    await json('PUT', `${api}/backups`, { description: 'Before the upgrade to 4.5' }, { ...site, 'X-Vault-Siteurl': 'https://moodle.example.org' });
    await json('PUT', `${api}/backups`, { description: 'Nightly' }, { ...site, 'X-Vault-Siteurl': 'https://staging.example.org/moodle' });
    await json('POST', `${api}/account/keys`, { name: 'vault-agent on the staging host', scopes: ['restore'] }, { 'X-Api-Key': apikey });

    const context = await browser.newContext({ viewport: { width: 1200, height: 800 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    for (const [name, path] of [['plans', '/plans'], ['faq', '/faq'], ['api-reference', '/api']] as const) {
      await page.goto(`${api}${path}`);
      await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: name !== 'api-reference' });
    }
    await page.goto(`${api}/dashboard`);
    await page.waitForSelector('#step-email:not([hidden])');
    await page.screenshot({ path: join(OUT, 'dashboard-signin.png') });
    await page.fill('#email', email);
    await page.click('#email-form button[type=submit]');
    await page.waitForSelector('#step-code:not([hidden])');
    await page.fill('#code', await codeFromMailbox(join(dataDir, 'mail'), email));
    await page.click('#code-form button[type=submit]');
    await page.waitForSelector('#step-dash:not([hidden])');
    await page.screenshot({ path: join(OUT, 'dashboard.png'), fullPage: true });

    const framed = await context.newPage();
    await framed.setViewportSize({ width: 800, height: 500 });
    await framed.goto(`http://localhost:${(moodle.address() as AddressInfo).port}/moodle/vault`);
    const frame = framed.frames().find((f) => f.url().startsWith(`${api}/getapikey`));
    await frame?.waitForSelector('#step-email:not([hidden])');
    await framed.screenshot({ path: join(OUT, 'getapikey.png') });
    await context.close();
    process.stdout.write(`screenshots written to ${OUT}\n`);
  } finally {
    await browser.close();
    moodle.close();
    if (server.pid) process.kill(-server.pid, 'SIGINT');
    await new Promise((r) => setTimeout(r, 1000));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
