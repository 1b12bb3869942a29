/**
 * /getapikey in a real browser (Debian's /usr/bin/chromium driven by playwright-core, third-party
 * cookies blocked), framed the way tool_vault frames it:
 *
 *   API + /getapikey      http://127.0.0.1:<api>      (startTestApi, mail over SMTP into a local mailbox)
 *   "Moodle"              http://localhost:<moodle>/moodle   the plugin's Vault page: an 800×500 iframe and
 *                                                      the message logic of tool_vault's amd/src/signon.js
 *                                                      (origin check, object data, "close" hides the frame)
 *   another site          http://127.0.0.2:<evil>     frames /getapikey itself and listens to every message
 *
 * The codes come from the .eml files the embedded SMTP server writes, as with `npm start`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api-server.js';
import { PluginClient } from '../api/plugin-client.js';
import { mailedCode } from './browser.js';

const CHROMIUM = '/usr/bin/chromium';
/** Flags known to work on this machine (docs: closed network), plus third-party cookies blocked. */
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--test-third-party-cookie-phaseout',
];

// tool_vault's amd/src/signon.js message logic, as plain browser JS (the page under test's parent).
const PLUGIN_JS = `
const iframe = document.querySelector('#apikey-iframe');
const url = document.querySelector('#signin').dataset.target;
const urlHost = url.match(/^(https?:\\/\\/[^/]+)(.*)$/)[1];
window.__all = []; window.__accepted = [];
const open = (e) => { iframe.src = e.target.dataset.target; iframe.style.display = 'block'; };
const close = () => { iframe.style.display = 'none'; iframe.src = 'about:blank'; };
document.querySelector('#signin').onclick = open;
document.querySelector('#signup').onclick = open;
window.addEventListener('message', (event) => {
  window.__all.push({ origin: event.origin, data: event.data });
  if (event.origin !== urlHost || !event.data || !(typeof event.data === 'object')) return;
  window.__accepted.push(event.data);
  if (event.data.action === 'close') close();
  else if (event.data.action === 'apikey' && /^[A-Za-z0-9]{15,100}$/.test(event.data.apikey)) {
    document.querySelector('#apikey').value = event.data.apikey;
  }
}, false);
`;

function pluginPage(apiUrl: string, siteUrl: string): string {
  const target = `${apiUrl}/getapikey?siteid=SITE1&siteurl=${encodeURIComponent(siteUrl)}`;
  return `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Vault</title></head><body>
<button id="signin" data-target="${target}">Sign in</button>
<button id="signup" data-target="${target}&tab=signup">Create account</button>
<form><input id="apikey" name="apikey"></form>
<iframe id="apikey-iframe" style="display:none;width:800px;height:500px" src="about:blank"></iframe>
<script src="plugin.js"></script></body></html>`;
}

/** Another site's page: frames /getapikey with `target` and records every message it gets. */
function otherPage(target: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Other</title></head><body>
<iframe id="f" style="width:800px;height:500px" src="${target}"></iframe>
<script src="other.js"></script></body></html>`;
}
const OTHER_JS = 'window.__all = []; window.addEventListener("message", (e) => window.__all.push({ origin: e.origin, data: e.data }));';

/** An HTTP server on `host` answering with `handle(url)`: [content type, body], or 404 for undefined. */
async function serve(host: string, handle: (url: URL) => [string, string] | undefined): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const found = handle(new URL(req.url ?? '/', 'http://x'));
    if (!found) res.writeHead(404).end();
    else res.writeHead(200, { 'Content-Type': found[0] }).end(found[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  return { server, port: (server.address() as AddressInfo).port };
}

let api: TestApi;
let browser: Browser;
let mailDir: string;
let moodleUrl: string;
const servers: Server[] = [];
let otherOrigin: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
  const root = mkdtempSync(join(tmpdir(), 'vault-web-'));
  mailDir = join(root, 'mail');
  api = await startTestApi({ regions: ['eu'], mailDir });
  const moodle = await serve('127.0.0.1', (url) => {
    if (url.pathname === '/moodle/vault.html') return ['text/html', pluginPage(api.url, moodleUrl)];
    if (url.pathname === '/moodle/plugin.js') return ['text/javascript', PLUGIN_JS];
    return undefined;
  });
  servers.push(moodle.server);
  // "localhost" and 127.0.0.1 are different sites: the frame is cross-site, as on a real Moodle.
  moodleUrl = `http://localhost:${moodle.port}/moodle`;
  const other = await serve('127.0.0.2', (url) => {
    if (url.pathname === '/other.js') return ['text/javascript', OTHER_JS];
    if (url.pathname === '/page') return ['text/html', otherPage(url.searchParams.get('target') ?? '')];
    return undefined;
  });
  servers.push(other.server);
  otherOrigin = `http://127.0.0.2:${other.port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  return () => rmSync(root, { recursive: true, force: true });
});

afterAll(async () => {
  await browser?.close();
  for (const s of servers) await new Promise((r) => s.close(r));
  await api?.close();
});

/** The code and subject of the newest message mailed to `email` in the local mailbox. */
const codeFromMailbox = (email: string): Promise<{ code: string; subject: string }> => mailedCode(mailDir, email);

async function apiFrame(page: Page): Promise<Frame> {
  for (let i = 0; i < 100; i++) {
    const f = page.frames().find((fr) => fr.url().startsWith(`${api.url}/getapikey`));
    if (f) {
      await f.waitForLoadState('load');
      return f;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the /getapikey frame did not load');
}

/** Goes through e-mail → code in `frame`; returns the subject of the mail. */
async function signInThrough(frame: Frame, email: string): Promise<string> {
  await frame.fill('#email', email);
  await frame.click('#email-form button[type=submit]');
  await frame.waitForSelector('#step-code:not([hidden])');
  const { code, subject } = await codeFromMailbox(email);
  await frame.fill('#code', code);
  await frame.click('#code-form button[type=submit]');
  await frame.waitForSelector('#step-confirm:not([hidden])');
  return subject;
}

const newPage = async (): Promise<{ page: Page; problems: string[] }> => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`${m.text()} at ${m.location().url}`);
  });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
  });
  return { page, problems };
};

describe('/getapikey framed by the plugin page', () => {
  it('signs up with a mailed code and hands the plugin a key that validateapikey accepts (third-party cookies blocked)', async () => {
    const { page, problems } = await newPage();
    // A cookie the API's origin set as first party (SameSite=None) must not be readable in the frame.
    await page.goto(`${api.url}/plans`);
    await page.evaluate("document.cookie = 'firstparty=1; SameSite=None; Secure; Path=/'");
    expect(await page.evaluate('document.cookie')).toBe('firstparty=1');
    await page.goto(`${moodleUrl}/vault.html`);
    await page.click('#signup');
    const frame = await apiFrame(page);
    // tab=signup opens on the sign-up view
    expect(await frame.isVisible('h2[data-tab-only=signup]')).toBe(true);
    expect(await frame.isVisible('h2[data-tab-only=signin]')).toBe(false);
    // The browser really treats the frame as third party: no storage (cookie) access.
    expect(await frame.evaluate('document.hasStorageAccess()')).toBe(false);
    expect(await frame.evaluate('document.cookie')).toBe('');

    const email = `web-${randomBytes(4).toString('hex')}@example.com`;
    expect(await signInThrough(frame, email)).toBe('Confirm your e-mail address for Vault Cloud');
    expect(await frame.textContent('#step-confirm')).toContain(moodleUrl);
    await frame.uncheck('input[value=restore]');
    await frame.click('#create');
    await frame.waitForSelector('#step-done:not([hidden])');
    await page.waitForFunction('window.__accepted.length > 0');

    const accepted = (await page.evaluate('window.__accepted')) as { action: string; apikey: string }[];
    expect(accepted).toHaveLength(1);
    expect(accepted[0]?.action).toBe('apikey');
    const key = accepted[0]?.apikey ?? '';
    expect(await page.inputValue('#apikey')).toBe(key);
    const site = new PluginClient(api.url, key);
    expect((await site.call('GET', 'validateapikey')).status).toBe(200);
    expect((await site.call('PUT', 'restores', { backupkey: 'X' })).status).toBe(403); // only "backup" was chosen
    // Every message came from the API's origin; the flow set no cookie.
    const all = (await page.evaluate('window.__all')) as { origin: string }[];
    expect(all.map((m) => m.origin)).toEqual([api.url]);
    expect((await page.context().cookies()).map((c) => c.name)).toEqual(['firstparty']);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('signs in to an existing account; Cancel closes the frame', async () => {
    const email = `known-${randomBytes(4).toString('hex')}@example.com`;
    const { accountid } = await api.registerAccount(email, 'free', { verified: true });
    const { page, problems } = await newPage();
    await page.goto(`${moodleUrl}/vault.html`);
    await page.click('#signin');
    const frame = await apiFrame(page);
    expect(await frame.isVisible('h2[data-tab-only=signin]')).toBe(true);
    expect(await signInThrough(frame, email)).toBe('Your Vault Cloud sign-in code');
    await frame.click('#cancel');
    await page.waitForFunction("document.querySelector('#apikey-iframe').style.display === 'none'");
    expect(await page.evaluate('window.__accepted')).toEqual([{ action: 'close' }]);
    expect((await api.deps.repo.listApiKeys(accountid)).map((k) => k.name)).toEqual(['default']);
    expect(problems).toEqual([]);
    await page.context().close();
  });
});

describe('/getapikey framed by another site', () => {
  const target = () => `${api.url}/getapikey?siteid=SITE1&siteurl=${encodeURIComponent(moodleUrl)}`;
  const otherAll = (page: Page): Promise<unknown> => page.evaluate('window.__all');

  it('refuses at once when the framing page is not the site it would create a key for', async () => {
    const { page } = await newPage();
    await page.goto(`${otherOrigin}/page?target=${encodeURIComponent(target())}`);
    const frame = await apiFrame(page);
    await frame.waitForSelector('#step-refused:not([hidden])');
    expect(await frame.textContent('#refused-reason')).toContain(otherOrigin);
    expect(await frame.isVisible('#email')).toBe(false);
    await frame.click('#cancel');
    await new Promise((r) => setTimeout(r, 300));
    expect(await otherAll(page)).toEqual([]);
    await page.context().close();
  });

  it('never delivers the key (nor any message) to it, even where the browser does not say who frames the page', async () => {
    const { page } = await newPage();
    // As in browsers without location.ancestorOrigins (Firefox), where only the postMessage target protects
    // the key: serve the page's script with that check turned off (location.ancestorOrigins is unforgeable).
    let patched = false;
    await page.context().route('**/web/getapikey.js', async (route) => {
      const res = await route.fetch();
      const original = await res.text();
      const body = original.replace('const ancestors = location.ancestorOrigins;', 'const ancestors = undefined;');
      patched = body !== original;
      await route.fulfill({ response: res, body });
    });
    await page.goto(`${otherOrigin}/page?target=${encodeURIComponent(target())}`);
    const frame = await apiFrame(page);
    await frame.waitForSelector('#step-email:not([hidden])');
    expect(patched).toBe(true);
    const email = `victim-${randomBytes(4).toString('hex')}@example.com`;
    await signInThrough(frame, email);
    // The page names the site the key is for: the user confirms moodleUrl, not the framing site.
    expect(await frame.textContent('#step-confirm')).toContain(moodleUrl);
    expect(await frame.textContent('#step-confirm')).not.toContain(otherOrigin);
    await frame.click('#create');
    await frame.waitForSelector('#step-done:not([hidden])');
    await frame.click('#cancel');
    await new Promise((r) => setTimeout(r, 300));
    // Had anything been posted to "*", this listener (no origin check) would have it.
    expect(await otherAll(page)).toEqual([]);
    await page.context().close();
  });
});

describe('/dashboard', () => {
  it('signs in with a mailed code, keeps an HttpOnly SameSite=Strict session, creates a key shown once and revokes it', async () => {
    const { page, problems } = await newPage();
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${api.url}/dashboard`);
    await page.waitForSelector('#step-email:not([hidden])');
    const email = `dash-${randomBytes(4).toString('hex')}@example.com`;
    await page.fill('#email', email);
    await page.click('#email-form button[type=submit]');
    await page.waitForSelector('#step-code:not([hidden])');
    await page.fill('#code', (await codeFromMailbox(email)).code);
    await page.click('#code-form button[type=submit]');
    await page.waitForSelector('#step-keys:not([hidden])');
    expect(await page.textContent('#who')).toBe(`Signed in as ${email}`);
    const cookies = await page.context().cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([['vault_session', true, 'Strict']]);
    expect(await page.evaluate('document.cookie')).toBe('');

    await page.fill('#key-name', 'ci');
    await page.click('#key-form button[type=submit]');
    await page.waitForSelector('#new-key:not([hidden])');
    const key = (await page.textContent('#new-key-value')) ?? '';
    expect((await new PluginClient(api.url, key).call('GET', 'validateapikey')).status).toBe(200);
    // A reload keeps the session but never shows the key again.
    await page.reload();
    await page.waitForSelector('#step-keys:not([hidden])');
    expect(await page.isVisible('#new-key')).toBe(false);
    expect(await page.textContent('#keys tbody')).toContain(key.slice(0, 9));
    expect(await page.textContent('#keys tbody')).not.toContain(key.slice(9));
    // Revoking the only key asks twice (last key), then the key is dead.
    await page.click('#keys tbody button');
    await page.waitForSelector('#no-keys:not([hidden])');
    expect((await new PluginClient(api.url, key).call('GET', 'validateapikey')).status).toBe(401);
    await page.click('#signout');
    await page.waitForSelector('#step-email:not([hidden])');
    expect(await page.context().cookies()).toEqual([]);
    // Only the answers the page expects: 401 before signing in, 409 for the last key.
    expect(problems.filter((p) => !/\b(401|409)\b.*\/dashboard\/api\/(keys|account)/.test(p))).toEqual([]);
    await page.context().close();
  });
});
