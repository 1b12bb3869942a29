/**
 * Shared by the Chromium tests of the web pages and scripts/screenshots.ts: Debian's
 * /usr/bin/chromium driven by playwright-core (no browser download), the sign-in codes read from
 * the .eml files of the embedded SMTP server, and an axe-core check injected into the page.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium. */
export const CHROMIUM = '/usr/bin/chromium';
/** Flags known to work on this machine (closed network), plus third-party cookies blocked. */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--test-third-party-cookie-phaseout',
];

/** Launches Chromium, or fails saying how to install it. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/** The code and subject of the newest message mailed to `email` in `mailDir`'s .eml files (waits up to 10 s). */
export async function mailedCode(mailDir: string, email: string): Promise<{ code: string; subject: string }> {
  for (let i = 0; i < 100; i++) {
    const files = existsSync(mailDir) ? readdirSync(mailDir).filter((f) => f.endsWith('.eml')).sort().reverse() : [];
    for (const f of files) {
      const raw = readFileSync(join(mailDir, f), 'utf8');
      if (!new RegExp(`^To: ${email.replace(/[.+]/g, '\\$&')}\\r?$`, 'm').test(raw)) continue;
      const code = /code [^\n]*is ([0-9]{6})/.exec(raw)?.[1];
      if (code) return { code, subject: /^Subject: (.*?)\r?$/m.exec(raw)?.[1] ?? '' };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no code mailed to ${email}`);
}

/** The code of the newest message mailed to `email` in `mailDir`. */
export async function codeFromMailbox(mailDir: string, email: string): Promise<string> {
  return (await mailedCode(mailDir, email)).code;
}

/** One axe-core finding. */
export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core (WCAG 2.x A/AA and best-practice rules) on the page as it is now and returns the
 * serious and critical violations. The source is added with `addScriptTag({content})`, which
 * the page's CSP (`script-src 'self'`) would block: so the CSP is bypassed for this check only
 * (`bypassCSP` on the context), never in the pages themselves.
 */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  await page.addScriptTag({ content: axeSource });
  // A string, evaluated in the page (this project's TypeScript has no DOM types).
  const found = await page.evaluate<AxeViolation[]>(`(async () => {
    const res = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) }));
  })()`);
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Page-side expression describing an element: `#id`, else tag and label or text. */
const DESCRIBE = "(el) => (el.id ? '#' + el.id : el.tagName.toLowerCase() + ':' + (el.getAttribute('aria-label') ?? el.textContent?.trim() ?? ''))";

/**
 * Presses Tab up to `max` times from the top of the page and returns a description of every
 * element that got the focus, in order (`#id`, else tag and text).
 */
export async function tabOrder(page: Page, max = 80): Promise<string[]> {
  await page.evaluate('document.activeElement?.blur(); window.scrollTo(0, 0);');
  const seen: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const d = await page.evaluate<string>(`(() => { const el = document.activeElement; return !el || el === document.body ? '' : (${DESCRIBE})(el); })()`);
    if (!d || (seen.length && d === seen[0])) break;
    seen.push(d);
  }
  return seen;
}

/** Every visible, enabled control of the page, described like `tabOrder` does. */
export async function visibleControls(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`[...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])')]
    .filter((el) => el.offsetParent !== null && !el.disabled).map(${DESCRIBE})`);
}
