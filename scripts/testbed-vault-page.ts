/**
 * Drives the unmodified tool_vault plugin's Vault page (Site administration → Server → Vault) on
 * a real Moodle site of the test bed (../shared/testbed/, site served by `php -S`) against this
 * checkout's `npm start`: the admin signs in to Moodle, clicks "Create account", completes the
 * `/getapikey` frame with a code from the local mailbox, and the plugin page must then show the
 * new key's first 8 characters. Third-party cookies are blocked as in the browser tests.
 *
 *   MOODLE_URL=http://localhost/moodle FRONTEND_URL=http://127.0.0.1:8799 MAIL_DIR=<VAULT_DATA_DIR>/mail \
 *   ADMIN_PASS=Admin-1-pass OUT_DIR=/tmp/shots npx tsx scripts/testbed-vault-page.ts
 *
 * Prints `W PASS …` or `W FAIL …` and exits 0 only on PASS. Not part of `npm test` (it needs
 * the test bed's Moodle).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { launchChromium, mailedCode } from '../test/web/browser.js';

const env = (name: string, fallback?: string): string => {
  const v = process.env[name] ?? fallback;
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const moodleUrl = env('MOODLE_URL', 'http://localhost/moodle');
const frontendUrl = env('FRONTEND_URL');
const mailDir = env('MAIL_DIR');
const adminPass = env('ADMIN_PASS', 'Admin-1-pass');
const outDir = env('OUT_DIR', '.');
mkdirSync(outDir, { recursive: true });

async function frameOf(page: Page, prefix: string): Promise<Frame> {
  for (let i = 0; i < 600; i++) {
    const f = page.frames().find((fr) => fr.url().startsWith(prefix));
    if (f) {
      await f.waitForLoadState('load');
      return f;
    }
    await page.waitForTimeout(100);
  }
  throw new Error(`no frame loaded from ${prefix}`);
}

const started = Date.now();
const browser = await launchChromium();
let page: Page | undefined;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  page = await context.newPage();
  page.setDefaultTimeout(120_000);
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));

  await page.goto(`${moodleUrl}/login/index.php`);
  // Moodle's password-unmask script re-renders the field once loaded: fill after it has run.
  await page.waitForLoadState('networkidle');
  await page.fill('#username', 'admin');
  await page.fill('#password', adminPass);
  await Promise.all([page.waitForNavigation(), page.click('#loginbtn')]);
  await page.goto(`${moodleUrl}/admin/tool/vault/index.php`);
  await page.waitForSelector('#getapikey_signup');
  await page.screenshot({ path: join(outDir, 'W1-vault-page.png') });
  // Record what the frame posts to the plugin page (the page's own listener acts on it).
  const messages: { origin: string; data: unknown }[] = [];
  await page.exposeFunction('vaultTestbedMessage', (origin: string, data: unknown) => messages.push({ origin, data }));
  await page.evaluate("window.addEventListener('message', (e) => window.vaultTestbedMessage(e.origin, e.data))");
  await page.click('#getapikey_signup');
  const frame = await frameOf(page, `${frontendUrl}/getapikey`);
  const frameUrl = new URL(frame.url());
  const email = `testbed-${Date.now()}@example.com`;
  await frame.fill('#email', email);
  await frame.click('#email-form button[type=submit]');
  await frame.waitForSelector('#step-code:not([hidden])');
  const { code } = await mailedCode(mailDir, email);
  await frame.fill('#code', code);
  await frame.click('#code-form button[type=submit]');
  await frame.waitForSelector('#step-confirm:not([hidden])');
  const confirmText = (await frame.textContent('#step-confirm')) ?? '';
  await page.screenshot({ path: join(outDir, 'W2-getapikey-confirm.png') });
  await frame.click('#create');
  // The plugin submits its key form (validateapikey) and reloads the page.
  await page.waitForSelector('text=You are using API key');
  await page.screenshot({ path: join(outDir, 'W3-vault-page-registered.png') });
  const shown = /You are using API key\s+(\S+)/.exec((await page.textContent('body')) ?? '')?.[1] ?? '';
  const posted = messages.map((m) => m.data as { action?: string; apikey?: string });
  const key = posted.find((m) => m.action === 'apikey')?.apikey ?? '';
  const checks = [
    ['one apikey message from the frontend origin', messages.length === 1 && messages[0]?.origin === frameUrl.origin && key.length >= 15],
    ['frame got siteid and siteurl', Boolean(frameUrl.searchParams.get('siteid')) && frameUrl.searchParams.get('siteurl') === moodleUrl && frameUrl.searchParams.get('tab') === 'signup'],
    ['frame names the site', confirmText.includes(moodleUrl)],
    ['page shows the posted key\'s first 8 characters', shown === `${key.slice(0, 8)}...`],
    ['no page errors', problems.length === 0],
  ] as const;
  const failed = checks.filter(([, ok]) => !ok).map(([n]) => n);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (failed.length) {
    console.log(`W FAIL plugin Vault page sign-up (${secs}s): ${failed.join('; ')}; shown='${shown}'; errors: ${problems.join(' | ')}`);
    process.exitCode = 1;
  } else {
    console.log(`W PASS plugin Vault page: Create account → /getapikey (${frameUrl.origin}, cross-site) → e-mail code → key posted → page shows "You are using API key ${shown}" (${secs}s)`);
  }
} catch (err) {
  if (page) await page.screenshot({ path: join(outDir, 'W-failure.png') }).catch(() => undefined);
  console.log(`W FAIL plugin Vault page sign-up: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
