/**
 * Public information pages the plugin links to: `/` and `/plans` (the plans, generated from
 * lambdas/domain/plans.ts, so the page cannot disagree with what the API enforces) and `/faq`.
 * Static HTML, no script, not frameable.
 */
import { Hono } from 'hono';
import { PLANS, type Plan } from '../domain/plans.js';
import { findRegion } from '../domain/regions.js';
import type { AppEnv, CoreDeps } from '../routes/deps.js';
import { esc, layout } from './html.js';
import { pageHeaders } from './security-headers.js';

const GIB = 1024 ** 3;

/** One plan's row cells, in the order of `PLAN_COLUMNS`, as plain text. */
export function planCells(p: Plan): string[] {
  const unlimited = (v: number | null, unit = '') => (v === null ? 'unlimited' : `${v}${unit}`);
  const expiry = p.canChangeExpiration
    ? `${p.minExpireDays}–${p.maxExpireDays} days${p.allowNever ? ' or never' : ''} (default ${p.defaultExpireDays === 0 ? 'never' : `${p.defaultExpireDays} days`})`
    : `${p.defaultExpireDays} days`;
  return [
    p.label,
    p.sizeLimit === null ? 'no limit' : `${p.sizeLimit / GIB} GiB`,
    expiry,
    unlimited(p.maxStoredBackups),
    unlimited(p.restoresPer30Days),
    p.regions.map((id) => findRegion(id)?.label ?? id).join(', '),
    p.passphrase ? 'yes' : 'no',
  ];
}

/** Column headings of the plans table. */
export const PLAN_COLUMNS = ['Plan', 'Backup size (archived)', 'Backups kept', 'Stored backups', 'Restores per 30 days', 'Storage regions', 'Passphrase protection'];

function plansPage(plans: Readonly<Record<string, Plan>>): string {
  const head = PLAN_COLUMNS.map((c) => `<th scope="col">${esc(c)}</th>`).join('');
  const rows = Object.values(plans).map((p) => `<tr>${planCells(p).map((v, i) => (i === 0 ? `<th scope="row">${esc(v)}</th>` : `<td>${esc(v)}</td>`)).join('')}</tr>`).join('\n');
  return layout('Vault Cloud: plans', `<main class="box wide">
<header><h1>Vault Cloud</h1><p class="site">Back up a whole Moodle site and restore it anywhere, also onto another database engine.</p></header>
<h2>Plans</h2>
<table class="plans"><thead><tr>${head}</tr></thead>
<tbody>
${rows}
</tbody></table>
<p>Every new account starts on the Free plan.</p>
<footer><a href="/faq">Questions and answers</a></footer>
</main>`);
}

const FAQ: readonly [string, string][] = [
  ['What is Vault Cloud?', 'An open, self-hostable backend for the Moodle plugin tool_vault: the plugin (or vault-agent) backs up a whole site, database, file store and dataroot, and restores it on any Moodle site.'],
  ['How do I connect my site?', 'Install the Vault plugin (tool_vault), point its API URL at this server and open Site administration → Server → Vault. "Sign in" or "Create account" asks for your e-mail address, mails you a code and then creates an API key for that site; "I have an API key" takes a key you already have.'],
  ['Do I need a password?', 'No. Every sign-in sends a one-time code to your e-mail address. A code works once, for 10 minutes.'],
  ['What may a site\'s API key do?', 'What you choose when it is created: back up the site, restore backups onto it, or both. A key that may restore sees the backups of all your sites, so that one made on another site can be restored onto this one. Each key can be revoked on its own.'],
  ['How long are backups kept, and how big may they be?', 'That depends on the plan: see the plans page.'],
  ['Where are backups stored?', 'In the storage region you choose when backing up, among those of your plan. Backups are encrypted at rest; on plans with passphrase protection the passphrase is sent only to the storage and never kept by the service.'],
  ['Can I restore onto another database?', 'Yes: a backup of a PostgreSQL site restores onto MySQL or MariaDB and the other way round.'],
];

function faqPage(): string {
  const items = FAQ.map(([q, a]) => `<dt>${esc(q)}</dt><dd>${esc(a)}</dd>`).join('\n');
  return layout('Vault Cloud: questions and answers', `<main class="box">
<header><h1>Vault Cloud</h1></header>
<h2>Questions and answers</h2>
<dl class="faq">
${items}
</dl>
<footer><a href="/plans">Plans</a></footer>
</main>`);
}

/** Routes `/`, `/plans`, `/faq`. */
export function infoRoutes(deps: Pick<CoreDeps, 'plans'>): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const plans = () => plansPage(deps.plans ?? PLANS);
  app.get('/', pageHeaders(false), (c) => c.html(plans()));
  app.get('/plans', pageHeaders(false), (c) => c.html(plans()));
  app.get('/faq', pageHeaders(false), (c) => c.html(faqPage()));
  return app;
}
