/**
 * /dashboard and the other pages in Chromium (test/web/browser.ts), against the real API over
 * DynamoDB Local and RGW, with the codes read from the local mailbox:
 * - deleting a backup in the dashboard frees its slot: on the free plan (3 stored backups) a
 *   fourth `PUT /backups` is refused, and succeeds after the delete;
 * - a restore-only key created in the dashboard cannot back up (the scope message);
 * - sign-in and every control of the dashboard work with the keyboard alone (Tab, Enter);
 * - axe-core finds no serious or critical violation on any page.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api-server.js';
import { codeFromMailbox, launchChromium, seriousViolations, tabOrder, visibleControls } from './browser.js';

let api: TestApi;
let browser: Browser;
let mailDir: string;
let root: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'vault-dash-'));
  mailDir = join(root, 'mail');
  api = await startTestApi({ regions: ['eu'], mailDir });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await api?.close();
  rmSync(root, { recursive: true, force: true });
});

/** A fresh page whose console errors and failed requests are collected in `problems`. */
async function newPage(opts: { bypassCSP?: boolean } = {}): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ bypassCSP: opts.bypassCSP ?? false });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('dialog', (d) => void d.accept());
  return { context, page, problems };
}

/** Signs in on /dashboard with the mouse-free path: Tab to the field, type, Enter. */
async function signInByKeyboard(page: Page, email: string): Promise<void> {
  await page.goto(`${api.url}/dashboard`);
  await page.waitForSelector('#step-email:not([hidden])');
  await page.keyboard.press('Tab');
  expect(await page.evaluate<string | undefined>('document.activeElement?.id')).toBe('email');
  await page.keyboard.type(email);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#step-code:not([hidden])');
  // The script moves the focus to the code field.
  expect(await page.evaluate<string | undefined>('document.activeElement?.id')).toBe('code');
  await page.keyboard.type(await codeFromMailbox(mailDir, email));
  await page.keyboard.press('Enter');
  await page.waitForSelector('#step-dash:not([hidden])');
}

/** `PUT /backups` as the plugin sends it. */
async function putBackup(apikey: string): Promise<{ status: number; body: { backupkey?: string; message?: string } }> {
  const res = await fetch(`${api.url}/backups`, {
    method: 'PUT',
    headers: { 'X-Api-Key': apikey, 'X-Vault-Siteid': 'SITE1', 'X-Vault-Siteurl': 'https://moodle.example.org', 'Content-Type': 'application/json' },
    body: JSON.stringify({ description: 'nightly', expiredays: 7 }),
  });
  return { status: res.status, body: (await res.json()) as { backupkey?: string; message?: string } };
}

describe('/dashboard in Chromium', () => {
  it('lists the backups of a full free plan; deleting one in the dashboard lets the next PUT /backups through', async () => {
    const email = `full-${Date.now()}@example.org`;
    const { apikey } = await api.registerAccount(email, 'free', { verified: true });
    const keys: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await putBackup(apikey);
      expect(r.status, r.body.message).toBe(200);
      keys.push(r.body.backupkey ?? '');
    }
    const refused = await putBackup(apikey);
    expect(refused.status).toBe(403);
    expect(refused.body.message).toContain('3 stored backups');

    const { context, page, problems } = await newPage();
    await signInByKeyboard(page, email);
    expect(await page.textContent('#who')).toBe(`Signed in as ${email}`);
    expect(await page.textContent('#plan-label')).toBe('Free');
    expect(await page.textContent('#usage tbody')).toContain('Stored backups33');
    const rows = page.locator('#backups tbody tr');
    expect(await rows.count()).toBe(3);
    expect(await rows.first().textContent()).toContain('https://moodle.example.org');
    expect(await rows.first().textContent()).toContain('nightly');
    expect(await rows.first().textContent()).toContain('Europe');
    expect(await page.textContent('#plans tbody')).toContain('Free (yours)');

    // Details: files (none yet) and the restores of it (none).
    await page.click(`button[aria-label="Details of backup ${keys[0]}"]`);
    await page.waitForSelector('#backup-details:not([hidden])');
    expect(await page.textContent('#details-key')).toBe(keys[0]);

    await page.click(`button[data-backupkey="${keys[0]}"]`);
    // (waitForFunction would evaluate a string, which the page's CSP forbids: no 'unsafe-eval')
    await expect.poll(() => rows.count()).toBe(2);
    await expect.poll(() => page.textContent('#usage tbody')).toContain('Stored backups23');
    expect(await page.isVisible('#backup-details')).toBe(false);

    const again = await putBackup(apikey);
    expect(again.status, again.body.message).toBe(200);
    // The deleted backup is gone for the site protocol too.
    const gone = await fetch(`${api.url}/backups/${keys[0]}`, { headers: { 'X-Api-Key': apikey } });
    expect(gone.status).toBe(404);
    // The page's first question, before signing in, is answered 401: that is how it knows to ask for the address.
    expect(problems.filter((p) => !/\b401\b/.test(p))).toEqual([]);
    await context.close();
  });

  it('details show the files and the restores of a backup; the restores table lists every restore', async () => {
    const email = `details-${Date.now()}@example.org`;
    const { apikey, accountid } = await api.registerAccount(email, 'pro', { verified: true });
    const b = await putBackup(apikey);
    const backupKey = b.body.backupkey ?? '';
    // Records written through the repository (an upload and a restore need a whole plugin run).
    const now = Math.floor(Date.now() / 1000);
    const repo = api.deps.repo;
    await repo.recordFile(accountid, backupKey, { name: 'dbstructure.zip', size: 2048, origsize: 4096, etag: '"e1"', createdAt: now }, now);
    await repo.createRestore({
      accountId: accountid, restoreKey: 'R1dashboard', backupKey, dryrun: true, status: 'finished', siteId: 'SITE2',
      siteUrl: 'https://restored.example.org', createdAt: now, modifiedAt: now, info: { secret: 'never shown' }, vaultVersion: '',
    }, null, now);
    const { context, page } = await newPage();
    await signInByKeyboard(page, email);
    expect(await page.textContent('#restores tbody')).toContain('https://restored.example.org');
    expect(await page.textContent('#restores tbody')).toContain('finished (dry run)');
    await page.click(`button[aria-label="Details of backup ${backupKey}"]`);
    await page.waitForSelector('#backup-details:not([hidden])');
    expect(await page.textContent('#details-files tbody')).toContain('dbstructure.zip');
    expect(await page.textContent('#details-files tbody')).toContain('2.0 KiB');
    expect(await page.textContent('#details-restores tbody')).toContain('https://restored.example.org');
    expect(await page.content()).not.toContain('never shown');
    await context.close();
  });

  it('a restore-only key created in the dashboard is refused PUT /backups with the scope message', async () => {
    const email = `restore-${Date.now()}@example.org`;
    await api.registerAccount(email, 'free', { verified: true });
    const { context, page } = await newPage();
    await signInByKeyboard(page, email);
    await page.fill('#key-name', 'restore only');
    await page.uncheck('#key-form input[value=backup]');
    await page.click('#key-form button[type=submit]');
    await page.waitForSelector('#new-key:not([hidden])');
    const key = (await page.textContent('#new-key-value')) ?? '';
    expect(await page.textContent('#keys tbody')).toContain('restore only');
    const r = await putBackup(key);
    expect(r).toEqual({ status: 403, body: { message: 'This API key does not have the backup permission' } });
    // It may restore: it sees the account's backups.
    const list = await fetch(`${api.url}/backups`, { headers: { 'X-Api-Key': key } });
    expect(list.status).toBe(200);
    await context.close();
  });

  it('"Sign out everywhere" in the account section ends the sessions of other browsers too; an old cookie is refused', async () => {
    const email = `everywhere-${Date.now()}@example.org`;
    const { accountid } = await api.registerAccount(email, 'free', { verified: true });
    const laptop = await newPage();
    const phone = await newPage();
    await signInByKeyboard(laptop.page, email);
    await signInByKeyboard(phone.page, email);
    expect(await laptop.page.textContent('#account-email')).toBe(email);
    const [oldCookie] = await phone.context.cookies(api.url);
    expect(oldCookie?.name).toBe('vault_session');

    // (the dialog handler of newPage accepts the confirmation)
    await laptop.page.click('#signout-everywhere');
    await laptop.page.waitForSelector('#step-email:not([hidden])');
    expect(await laptop.page.textContent('#message')).toBe('You were signed out everywhere.');
    expect(await laptop.context.cookies(api.url)).toEqual([]);

    // The other browser is signed out at its next request, and told why.
    await phone.page.reload();
    await phone.page.waitForSelector('#step-email:not([hidden])');
    expect(await phone.page.textContent('#message')).toBe('You were signed out everywhere: please sign in again');
    expect(await phone.context.cookies(api.url)).toEqual([]);
    // The cookie it had, sent again as it was, is refused by the server (not just forgotten by the browser).
    const replay = await fetch(`${api.url}/dashboard/api/account`, { headers: { Cookie: `vault_session=${oldCookie?.value ?? ''}` } });
    expect(replay.status).toBe(401);
    // Signing in again works.
    await signInByKeyboard(phone.page, email);
    expect(await phone.page.textContent('#who')).toBe(`Signed in as ${email}`);
    // A suspension signs it out at its next request, with the operator's reason.
    await api.deps.repo.suspendAccount(accountid, 'abuse report', Math.floor(Date.now() / 1000));
    await phone.page.click('#signout-everywhere');
    await phone.page.waitForSelector('#step-email:not([hidden])');
    expect(await phone.page.textContent('#message')).toBe('This account is suspended: abuse report. Contact the operator.');
    expect(await phone.context.cookies(api.url)).toEqual([]);
    const problems = [...laptop.problems, ...phone.problems].filter((p) => !/\b40[13]\b/.test(p));
    expect(problems).toEqual([]);
    await laptop.context.close();
    await phone.context.close();
  });

  it('every control of the signed-in dashboard is reached with Tab, and Enter works them', async () => {
    const email = `keys-${Date.now()}@example.org`;
    const { apikey } = await api.registerAccount(email, 'free', { verified: true });
    const b = await putBackup(apikey);
    const { context, page } = await newPage();
    await signInByKeyboard(page, email);
    const order = await tabOrder(page);
    const controls = await visibleControls(page);
    expect(controls.length).toBeGreaterThan(10);
    expect([...order].sort()).toEqual([...controls].sort());
    // Enter on "Details": the panel opens and takes the focus; Enter on its close button shuts it.
    await page.focus(`button[aria-label="Details of backup ${b.body.backupkey ?? ''}"]`);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#backup-details:not([hidden])');
    expect(await page.evaluate<string | undefined>('document.activeElement?.id')).toBe('backup-details');
    await page.keyboard.press('Tab');
    expect(await page.evaluate<string | undefined>('document.activeElement?.id')).toBe('details-close');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#backup-details', { state: 'hidden' });
    // Sign out by keyboard.
    await page.focus('#signout');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#step-email:not([hidden])');
    expect(await page.evaluate<string | undefined>('document.activeElement?.id')).toBe('email');
    await context.close();
  });
});

describe('axe-core', () => {
  it('finds a critical violation where there is one (the check can fail)', async () => {
    const { context, page } = await newPage({ bypassCSP: true });
    await page.setContent('<!doctype html><html lang="en"><head><title>t</title></head><body><main><button></button></main></body></html>');
    expect((await seriousViolations(page)).map((v) => v.id)).toContain('button-name');
    await context.close();
  });

  const pages = ['/', '/plans', '/faq', '/api', '/dashboard', '/getapikey?siteid=S1&siteurl=https%3A%2F%2Fmoodle.example.org'];
  it.each(pages)('%s has no serious or critical violations', async (path) => {
    const { context, page } = await newPage({ bypassCSP: true });
    await page.goto(`${api.url}${path}`);
    await page.waitForLoadState('load');
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();
  });

  it('the signed-in dashboard, with backups and keys, has no serious or critical violations', async () => {
    const email = `axe-${Date.now()}@example.org`;
    const { apikey } = await api.registerAccount(email, 'free', { verified: true });
    await putBackup(apikey);
    const { context, page } = await newPage({ bypassCSP: true });
    await signInByKeyboard(page, email);
    await page.click('#backups tbody button');
    await page.waitForSelector('#backup-details:not([hidden])');
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();
  });
});
