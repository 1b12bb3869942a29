/**
 * The web pages served by the API itself (docs/web.md): `/getapikey`, which the Moodle plugin
 * tool_vault opens in an 800×500 iframe to obtain an API key (spec §8.1), and its static script
 * and style sheet under `/web/`. Pages are plain template strings with every value escaped; the
 * behaviour lives in static/getapikey.js (no inline script, so the CSP needs no hash).
 */
import { Hono } from 'hono';
import type { AccountDeps, AppEnv } from '../routes/deps.js';
import { errorResponse, notFoundResponse } from '../routes/error-response.js';
import { readAsset, WEB_ASSETS } from './assets.js';
import { dashboardRoutes } from './dashboard.js';
import { esc, layout } from './html.js';
import { infoRoutes } from './info-pages.js';
import { openApiRoutes } from './openapi.js';
import { assetHeaders, pageHeaders } from './security-headers.js';

/** The site a /getapikey request is for, or undefined when its siteurl is unusable. */
export function siteFromQuery(q: { siteurl?: string; siteid?: string }): { url: string; origin: string; id: string } | undefined {
  if (!q.siteurl || q.siteurl.length > 1000) return undefined;
  let u: URL;
  try {
    u = new URL(q.siteurl);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
  if (u.username || u.password) return undefined;
  const id = /^[A-Za-z0-9_-]{1,100}$/.test(q.siteid ?? '') ? (q.siteid as string) : '';
  return { url: q.siteurl, origin: u.origin, id };
}

/** The /getapikey page for `site` (undefined: opened without a usable siteurl). */
export function getApiKeyPage(site: ReturnType<typeof siteFromQuery>, tab: 'signin' | 'signup'): string {
  if (!site) {
    return layout('Vault Cloud', `<main class="box"><h1>Vault Cloud</h1>
<p class="error">This page is opened by the Vault plugin of a Moodle site (Site administration → Server → Vault), which tells it the site's address. That address is missing or not valid here.</p></main>`);
  }
  const siteUrl = esc(site.url);
  return layout('Vault Cloud: API key for your site', `<main class="box" id="app" data-siteurl="${siteUrl}" data-siteorigin="${esc(site.origin)}" data-siteid="${esc(site.id)}" data-tab="${tab}">
<header><h1>Vault Cloud</h1><p class="site">API key for <strong>${siteUrl}</strong></p></header>
<noscript><p class="error">This page needs JavaScript.</p></noscript>

<section id="step-email" hidden>
<h2 data-tab-only="signin">Sign in</h2>
<h2 data-tab-only="signup">Create an account</h2>
<p data-tab-only="signup">No password: we send a code to your e-mail address.</p>
<form id="email-form" method="post" novalidate>
<label for="email">E-mail address</label>
<input type="email" id="email" name="email" autocomplete="email" required maxlength="254">
<button type="submit">Send me a code</button>
</form>
<p class="switch"><button type="button" class="link" id="to-signup" data-tab-only="signin">New here? Create an account</button><button type="button" class="link" id="to-signin" data-tab-only="signup">I have an account</button></p>
</section>

<section id="step-code" hidden>
<h2>Check your e-mail</h2>
<p>We sent a 6-digit code to <strong id="sent-to"></strong>. It is valid for 10 minutes.</p>
<form id="code-form" method="post" novalidate>
<label for="code">Code</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required>
<button type="submit">Continue</button>
</form>
<p class="switch"><button type="button" class="link" id="resend">Send a new code</button> <button type="button" class="link" id="other-email">Use another address</button></p>
</section>

<section id="step-confirm" hidden>
<h2>Create an API key</h2>
<p>Signed in as <strong id="signed-in-as"></strong>.</p>
<p>A new API key named after the site will be created and sent to <strong>${siteUrl}</strong>, and to no other site.</p>
<form id="confirm-form" method="post">
<fieldset><legend>The key may</legend>
<label><input type="checkbox" name="scope" value="backup" checked> back up this site</label>
<label><input type="checkbox" name="scope" value="restore" checked> restore backups onto this site (it sees the backups of all your sites, to restore one made elsewhere)</label>
</fieldset>
<button type="submit" id="create">Create the key and send it to the site</button>
</form>
</section>

<section id="step-done" hidden>
<h2>Done</h2>
<p>The API key was sent to <strong>${siteUrl}</strong>, which stores it now.</p>
</section>

<section id="step-refused" hidden>
<h2>Not possible here</h2>
<p class="error" id="refused-reason"></p>
</section>

<p id="message" class="error" role="alert" aria-live="polite"></p>
<footer><button type="button" id="cancel">Cancel</button><a href="/faq" target="_blank" rel="noopener">Questions?</a></footer>
</main>`, 'getapikey.js');
}

/**
 * The web pages as an app of their own, answering its errors and 404s as the API does: the
 * account app hands it the requests of its paths (lazy-pages.ts).
 */
export function webApp(deps: AccountDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.route('/', webRoutes(deps));
  app.notFound(notFoundResponse);
  app.onError(errorResponse);
  return app;
}

/** Routes of the web pages. */
export function webRoutes(deps: AccountDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.route('/', infoRoutes(deps));
  app.route('/', dashboardRoutes(deps));
  app.route('/', openApiRoutes());
  app.get('/getapikey', pageHeaders(true), (c) => {
    const site = siteFromQuery({ siteurl: c.req.query('siteurl'), siteid: c.req.query('siteid') });
    return c.html(getApiKeyPage(site, c.req.query('tab') === 'signup' ? 'signup' : 'signin'), site ? 200 : 400);
  });
  // Browsers ask for it on every top-level page; no icon, and no 404 in their consoles.
  app.get('/favicon.ico', (c) => c.body(null, 204));
  app.get('/web/:name', assetHeaders(), (c) => {
    const name = c.req.param('name');
    const text = readAsset(name);
    if (text === undefined) return c.json({ message: 'Not found' }, 404);
    return c.body(text, 200, { 'Content-Type': WEB_ASSETS[name] as string });
  });
  return app;
}
