/**
 * The dashboard skeleton (docs/web.md): `/dashboard` signs in with the same e-mail codes as
 * /getapikey, then trades the short-lived token for a session cookie and manages API keys
 * (list, create with the key shown once, revoke; the last key only with confirmation).
 *
 * Session: an HS256 JWT (audience `vault-cloud/session`, 12 h) in the cookie `vault_session`,
 * HttpOnly, SameSite=Strict, Path=/, Secure whenever the request came over https (always on AWS).
 * It carries the account's `sessionEpoch` of its sign-in; every dashboard request reads the account
 * (consistent) and signs the browser out (cookie removed) when the account is suspended (403 with
 * the reason) or the epoch moved on: `POST /signout/everywhere` adds 1 to it, which ends every
 * session and sign-in token of the account at once.
 * CSRF: besides SameSite=Strict, every state-changing call must be `Content-Type:
 * application/json` (a cross-site form cannot send that without a CORS preflight, which this API
 * never answers) and, when the browser sends `Origin`, come from this origin.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { SignJWT, jwtVerify } from 'jose';
import * as z from 'zod/mini';
import { SCOPES } from '../domain/api-keys.js';
import { ApiError, BackupNotFoundError } from '../domain/errors.js';
import { PLANS } from '../domain/plans.js';
import { findRegion } from '../domain/regions.js';
import { accountSummary, planView } from '../routes/account.js';
import { keyIdParam, keyView } from '../routes/keys.js';
import { deleteBackup, fileView, loadBackup, purgeObjects } from '../routes/records-view.js';
import type { BackupRecord, RestoreRecord } from '../store/records.js';
import { nowSeconds, type AccountDeps, type AppEnv } from '../routes/deps.js';
import { issueKey, sessionAccount, signedInToken, type SignedIn } from '../routes/signin.js';
import { param, parseJsonBody, parseWith, recordKey } from '../routes/validation.js';
import { layout } from './html.js';
import { pageHeaders } from './security-headers.js';

const SESSION_COOKIE = 'vault_session';
const SESSION_AUDIENCE = 'vault-cloud/session';
/** Session lifetime in seconds. */
export const SESSION_TTL_SECONDS = 12 * 3600;

/** Body of `POST /dashboard/api/keys` (also read by the OpenAPI document, openapi.ts). */
export const dashboardKeyBody = z.lazy(() => z.object({
  name: z.string().check(z.trim(), z.minLength(1), z.maxLength(100)),
  scopes: z.array(z.enum(SCOPES)).check(z.minLength(1), z.maxLength(SCOPES.length)),
}));

const listQuery = z.lazy(() => z.object({ cursor: z.optional(z.string().check(z.maxLength(2048), z.regex(/^[A-Za-z0-9_-]*$/))) }));

/** A backup as the dashboard lists it. */
function dashboardBackup(b: BackupRecord): Record<string, unknown> {
  return {
    backupkey: b.backupKey, siteid: b.siteId, siteurl: b.siteUrl, description: b.description, status: b.status,
    size: b.status === 'finished' ? b.archivedBytes : typeof b.info.totalsize === 'number' ? b.info.totalsize : b.archivedBytes,
    timecreated: b.createdAt, timefinished: b.finishedAt ?? null, timeexpires: b.expiry, encrypted: b.encrypted,
    region: b.region, regionlabel: findRegion(b.region)?.label ?? b.region,
  };
}

/** A restore as the dashboard lists it (never its `info`, which the site fills freely). */
function restoreView(r: RestoreRecord): Record<string, unknown> {
  return {
    restorekey: r.restoreKey, backupkey: r.backupKey, siteurl: r.siteUrl, status: r.status, dryrun: r.dryrun,
    timecreated: r.createdAt, timemodified: r.modifiedAt,
  };
}

/** Refuses cross-site state changes (see module doc). */
function sameOriginJson(deps: AccountDeps): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
      const origin = c.req.header('origin');
      const own = deps.publicUrl ? new URL(deps.publicUrl).origin : new URL(c.req.url).origin;
      if (type !== 'application/json' || (origin !== undefined && origin !== own)) {
        return c.json({ message: 'Cross-site request refused' }, 403);
      }
    }
    await next();
  };
}

function page(): string {
  return layout('Vault Cloud: dashboard', `<main class="box wide" id="dash">
<header><h1>Vault Cloud</h1><p class="site" id="who"></p></header>
<noscript><p class="error">This page needs JavaScript.</p></noscript>
<section id="step-email" hidden>
<h2>Sign in</h2>
<form id="email-form" method="post" novalidate>
<label for="email">E-mail address</label>
<input type="email" id="email" name="email" autocomplete="email" required maxlength="254">
<button type="submit">Send me a code</button>
</form>
</section>
<section id="step-code" hidden>
<h2>Check your e-mail</h2>
<p>We sent a 6-digit code to <strong id="sent-to"></strong>.</p>
<form id="code-form" method="post" novalidate>
<label for="code">Code</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6" required>
<button type="submit">Sign in</button>
</form>
</section>
<div id="step-dash" hidden>
<nav class="account" aria-label="Account"><button type="button" id="signout">Sign out</button></nav>
<section aria-labelledby="h-plan">
<h2 id="h-plan">Plan and usage</h2>
<p>Plan: <strong id="plan-label"></strong></p>
<table class="plans" id="usage"><thead><tr><th scope="col">Limit</th><th scope="col">Used</th><th scope="col">Allowed</th></tr></thead><tbody></tbody></table>
</section>
<section aria-labelledby="h-backups">
<h2 id="h-backups" tabindex="-1">Backups</h2>
<table class="plans" id="backups"><thead><tr><th scope="col">Site</th><th scope="col">Description</th><th scope="col">Status</th><th scope="col">Size</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Encrypted</th><th scope="col">Region</th><th scope="col">Actions</th></tr></thead><tbody></tbody></table>
<p id="no-backups" hidden>No backups yet.</p>
<div id="backup-details" class="details" tabindex="-1" hidden>
<h3>Backup <code id="details-key"></code></h3>
<h4>Files</h4>
<table class="plans" id="details-files"><thead><tr><th scope="col">File</th><th scope="col">Size</th><th scope="col">Uploaded</th></tr></thead><tbody></tbody></table>
<h4>Restores of this backup</h4>
<table class="plans" id="details-restores"><thead><tr><th scope="col">Site</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col">Last change</th></tr></thead><tbody></tbody></table>
<button type="button" id="details-close">Close details</button>
</div>
</section>
<section aria-labelledby="h-restores">
<h2 id="h-restores">Restores</h2>
<table class="plans" id="restores"><thead><tr><th scope="col">Site</th><th scope="col">Backup</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col">Last change</th></tr></thead><tbody></tbody></table>
<p id="no-restores" hidden>No restores yet.</p>
</section>
<section id="step-keys" aria-labelledby="h-keys">
<h2 id="h-keys">API keys</h2>
<table class="plans" id="keys"><thead><tr><th scope="col">Name</th><th scope="col">Key</th><th scope="col">May</th><th scope="col">Created</th><th scope="col">Actions</th></tr></thead><tbody></tbody></table>
<p id="no-keys" hidden>No API keys yet.</p>
<form id="key-form" method="post">
<h3>New key</h3>
<label for="key-name">Name</label>
<input type="text" id="key-name" maxlength="100" required>
<fieldset><legend>The key may</legend>
<label><input type="checkbox" name="scope" value="backup" checked> back up</label>
<label><input type="checkbox" name="scope" value="restore" checked> restore</label>
<label><input type="checkbox" name="scope" value="account"> manage the account (list backups, keys)</label>
</fieldset>
<button type="submit">Create key</button>
</form>
<div id="new-key" hidden><p>Your new key, shown only now:</p><p><code id="new-key-value"></code></p></div>
</section>
<section aria-labelledby="h-plans">
<h2 id="h-plans">Plans</h2>
<table class="plans" id="plans"><thead><tr><th scope="col">Plan</th><th scope="col">Backup size</th><th scope="col">Stored backups</th><th scope="col">Restores per 30 days</th><th scope="col">Passphrase</th></tr></thead><tbody></tbody></table>
</section>
<section aria-labelledby="h-account">
<h2 id="h-account">Account</h2>
<p>E-mail address: <strong id="account-email"></strong></p>
<p>Signed in on a computer you no longer use? <strong>Sign out everywhere</strong> ends every session of this account at once, this one included. API keys keep working: revoke them above.</p>
<button type="button" id="signout-everywhere">Sign out everywhere</button>
</section>
<footer><a href="/plans">Plans</a> <a href="/faq">Questions</a> <a href="/api">API reference</a></footer>
</div>
<p id="message" class="error" role="alert" aria-live="polite"></p>
</main>`, 'dashboard.js');
}

/** `/dashboard`, `/signin/session`, `/signout` and the cookie-authenticated `/dashboard/api/*`. */
export function dashboardRoutes(deps: AccountDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const signin = deps.signin;
  app.get('/dashboard', pageHeaders(false), (c) => c.html(page()));
  if (!signin) {
    const off = (c: Context) => c.json({ message: 'Sign-in by e-mail is not configured on this server' }, 503);
    app.post('/signout', off);
    app.post('/signout/everywhere', off);
    app.all('/dashboard/api/*', off);
    return app;
  }

  const cookieOptions = (c: Context) => ({ httpOnly: true, sameSite: 'Strict' as const, path: '/', secure: new URL(c.req.url).protocol === 'https:' });
  const sessionCookie = async (c: Context, who: SignedIn) => {
    const now = nowSeconds(deps);
    const jwt = await new SignJWT({ ep: who.epoch }).setProtectedHeader({ alg: 'HS256' }).setSubject(who.email).setAudience(SESSION_AUDIENCE)
      .setIssuedAt(now).setExpirationTime(now + SESSION_TTL_SECONDS).sign(deps.verifySecret);
    setCookie(c, SESSION_COOKIE, jwt, { ...cookieOptions(c), maxAge: SESSION_TTL_SECONDS });
  };

  /**
   * The signed-in address of the session cookie and its account (undefined: none yet), checked
   * against the account on every request; 401 without a valid session, 403 for a suspended
   * account. A refused session's cookie is removed: the browser is signed out.
   */
  const session = async (c: Context): Promise<{ email: string; accountId: string | undefined }> => {
    const jwt = getCookie(c, SESSION_COOKIE);
    let who: SignedIn | undefined;
    if (jwt) {
      try {
        const { payload } = await jwtVerify(jwt, deps.verifySecret, { audience: SESSION_AUDIENCE, algorithms: ['HS256'], currentDate: deps.now?.() ?? new Date() });
        if (typeof payload.sub === 'string' && payload.sub) who = { email: payload.sub, epoch: typeof payload.ep === 'number' ? payload.ep : 0 };
      } catch {
        who = undefined;
      }
    }
    try {
      if (!who) throw new ApiError('ERR_UNAUTHENTICATED', 'Please sign in again');
      const account = await sessionAccount(deps, signin.store, who);
      return { email: who.email, accountId: account?.accountId };
    } catch (err) {
      if (jwt) deleteCookie(c, SESSION_COOKIE, cookieOptions(c));
      throw err;
    }
  };

  app.use('/signin/session', sameOriginJson(deps));
  app.use('/signout', sameOriginJson(deps));
  app.use('/signout/everywhere', sameOriginJson(deps));
  app.use('/dashboard/api/*', sameOriginJson(deps));

  app.post('/signin/session', async (c) => {
    const who = await signedInToken(c.req.header('authorization'), deps);
    await sessionAccount(deps, signin.store, who);
    await sessionCookie(c, who);
    return c.json({ email: who.email });
  });

  app.post('/signout', (c) => {
    deleteCookie(c, SESSION_COOKIE, cookieOptions(c));
    return c.json({});
  });

  // Ends every session and sign-in token of the account, this one included.
  app.post('/signout/everywhere', async (c) => {
    const { accountId } = await session(c);
    if (accountId) await deps.repo.bumpSessionEpoch(accountId);
    deleteCookie(c, SESSION_COOKIE, cookieOptions(c));
    return c.json({});
  });

  app.get('/dashboard/api/keys', async (c) => {
    const { email, accountId } = await session(c);
    const keys = accountId ? await deps.repo.listApiKeys(accountId) : [];
    return c.json({ email, keys: keys.map(keyView) });
  });

  app.post('/dashboard/api/keys', async (c) => {
    const { email } = await session(c);
    const body = await parseJsonBody(c, dashboardKeyBody);
    const { apikey, key } = await issueKey(deps, signin.store, email, body.name, body.scopes, nowSeconds(deps));
    return c.json({ ...keyView(key), apikey });
  });

  const plans = () => deps.plans ?? PLANS;

  app.get('/dashboard/api/account', async (c) => {
    const { email, accountId } = await session(c);
    const others = Object.values(plans()).map(planView);
    if (!accountId) return c.json({ email, account: null, plans: others });
    return c.json({ email, account: await accountSummary(deps, accountId, nowSeconds(deps)), plans: others });
  });

  app.get('/dashboard/api/backups', async (c) => {
    const { accountId } = await session(c);
    const q = parseWith(listQuery, c.req.query(), 'query');
    if (!accountId) return c.json({ backups: [] });
    const page = await deps.repo.listBackups(accountId, { now: nowSeconds(deps), limit: 100, cursor: q.cursor });
    return c.json({ backups: page.items.map(dashboardBackup), ...(page.cursor ? { nextcursor: page.cursor } : {}) });
  });

  app.get('/dashboard/api/backups/:backupkey', async (c) => {
    const { accountId } = await session(c);
    const key = param(c, 'backupkey', recordKey);
    if (!accountId) throw new BackupNotFoundError();
    const b = await loadBackup(deps, accountId, key, nowSeconds(deps));
    const [files, restores] = await Promise.all([deps.repo.listFiles(accountId, key), deps.repo.listRestores(accountId)]);
    return c.json({
      ...dashboardBackup(b),
      files: files.map(fileView).sort((x, y) => x.name.localeCompare(y.name, 'en', { numeric: true })),
      restores: restores.filter((r) => r.backupKey === key).map(restoreView),
    });
  });

  // The same delete as `DELETE /account/backups/{key}` (records-view.ts, deleteBackup): gone for
  // every endpoint and its slot free at once. Its objects go now where this process has storage
  // (npm start, createApp); the account Lambda has no S3 rights, so there the next ops run deletes them.
  const storage = deps.storage;
  const purge = storage ? (b: BackupRecord) => purgeObjects({ ...deps, storage }, b) : undefined;
  app.delete('/dashboard/api/backups/:backupkey', async (c) => {
    const { accountId } = await session(c);
    const key = param(c, 'backupkey', recordKey);
    if (!accountId) throw new BackupNotFoundError();
    await deleteBackup(deps, accountId, key, nowSeconds(deps), purge);
    return c.json({});
  });

  app.get('/dashboard/api/restores', async (c) => {
    const { accountId } = await session(c);
    return c.json({ restores: accountId ? (await deps.repo.listRestores(accountId)).map(restoreView) : [] });
  });

  app.delete('/dashboard/api/keys/:keyid', async (c) => {
    const keyId = parseWith(keyIdParam, c.req.param('keyid'), 'path parameter keyid');
    const { accountId } = await session(c);
    // The repository refuses the account's last key (409) unless confirmed with ?confirm=lastkey.
    if (!accountId || !(await deps.repo.revokeApiKey(accountId, keyId, c.req.query('confirm') === 'lastkey'))) {
      throw new ApiError('ERR_KEY_NOT_FOUND', 'API key not found');
    }
    return c.json({});
  });

  return app;
}
