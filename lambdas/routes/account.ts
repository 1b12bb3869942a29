/**
 * Account API (our design, docs/api.md): register with an email, verify it, see plan and
 * usage, list the account's backups across sites. API keys are in `keys.ts`.
 */
import { Hono } from 'hono';
import * as z from 'zod/mini';
import { SignJWT, jwtVerify } from 'jose';
import { apiKeyHint, generateApiKey, hashApiKey, SCOPES } from '../domain/api-keys.js';
import { BadRequestError } from '../domain/errors.js';
import { newAccountId, newKeyId } from '../domain/ids.js';
import { BACKUP_STATUSES } from '../domain/backup-state.js';
import { DEFAULT_PLAN, type Plan } from '../domain/plans.js';
import type { ApiKeyRecord } from '../store/records.js';
import { requireApiKey } from './auth.js';
import { nowSeconds, type AccountDeps, type AppEnv } from './deps.js';
import { backupView, loadAccount } from './records-view.js';
import { parseJsonBody, parseWith } from './validation.js';

const VERIFY_TTL_SECONDS = 48 * 3600;
const VERIFY_AUDIENCE = 'vault-cloud/verify-email';

/** Body of `POST /account/register` (also read by the OpenAPI document, web/openapi.ts). */
export const registerBody = z.lazy(() => z.object({ email: z.string().check(z.maxLength(254), z.trim(), z.toLowerCase(), z.email()) }));
/** Query of `GET /account/backups`. */
export const listQuery = z.lazy(() => z.object({
  site: z.optional(z.string().check(z.maxLength(100), z.regex(/^[A-Za-z0-9_-]*$/))),
  status: z.optional(z.enum(BACKUP_STATUSES)),
  limit: z.optional(z.string().check(z.regex(/^[1-9][0-9]{0,2}$/, 'must be 1-100'))),
  cursor: z.optional(z.string().check(z.maxLength(2048), z.regex(/^[A-Za-z0-9_-]*$/))),
}));

/** Query of `GET /account/verify`. */
const verifyQuery = z.lazy(() => z.object({ token: z.string().check(z.minLength(1), z.maxLength(4096)) }));

/** A plan as the API shows it (`GET /account`, the dashboard). */
export function planView(plan: Plan): Record<string, unknown> {
  return {
    id: plan.id, label: plan.label, expiredays: plan.defaultExpireDays, canchangeexpiration: plan.canChangeExpiration,
    maxexpiredays: plan.maxExpireDays, limit: plan.sizeLimit ?? 0, regions: plan.regions, passphrase: plan.passphrase,
    restoresper30days: plan.restoresPer30Days, maxstoredbackups: plan.maxStoredBackups,
  };
}

/** `GET /account`'s answer: the account, its plan and its usage (also the dashboard's). */
export async function accountSummary(deps: AccountDeps, accountId: string, now: number): Promise<Record<string, unknown>> {
  const { account, plan } = await loadAccount(deps, accountId);
  const backups = (await deps.repo.listBackups(accountId, { now })).items.filter((b) => b.status !== 'failed');
  return {
    accountid: account.accountId, email: account.email, verified: account.verified,
    plan: planView(plan),
    usage: {
      storedbytes: backups.reduce((s, b) => s + b.archivedBytes, 0),
      backups: backups.length,
      restoresthismonth: await deps.repo.restoresInMonth(accountId, now),
      restoreslast30days: await deps.repo.activeRestoreSlots(accountId, now),
    },
  };
}

/** Routes under `/account`. */
export function accountRoutes(deps: AccountDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post('/account/register', async (c) => {
    // Off where sign-in by e-mail code replaces it: its 409 tells anyone whether an address has an account.
    if (deps.directRegister === false) return c.json({ message: 'Not found' }, 404);
    const { email } = await parseJsonBody(c, registerBody);
    const now = nowSeconds(deps);
    const accountId = newAccountId();
    const apikey = generateApiKey();
    const key: ApiKeyRecord = { keyId: newKeyId(), accountId, name: 'default', scopes: [...SCOPES], hint: apiKeyHint(apikey), createdAt: now };
    await deps.repo.createAccount({ accountId, email, plan: DEFAULT_PLAN, verified: false, createdAt: now }, key, hashApiKey(apikey));
    const token = await new SignJWT({ email })
      .setProtectedHeader({ alg: 'HS256' }).setSubject(accountId).setAudience(VERIFY_AUDIENCE)
      .setIssuedAt(now).setExpirationTime(now + VERIFY_TTL_SECONDS).sign(deps.verifySecret);
    const base = deps.publicUrl ?? new URL(c.req.url).origin;
    await deps.sendVerification?.(email, `${base}/account/verify?token=${token}`);
    return c.json({ apikey, accountid: accountId, keyid: key.keyId });
  });

  app.get('/account/verify', async (c) => {
    const { token } = parseWith(verifyQuery, c.req.query(), 'query');
    let accountId: string;
    try {
      const { payload } = await jwtVerify(token, deps.verifySecret, {
        audience: VERIFY_AUDIENCE, algorithms: ['HS256'], currentDate: deps.now?.() ?? new Date(),
      });
      accountId = payload.sub ?? '';
    } catch {
      throw new BadRequestError('The verification link is invalid or expired');
    }
    if (!(await deps.repo.getAccount(accountId))) throw new BadRequestError('The verification link is invalid or expired');
    await deps.repo.markVerified(accountId);
    return c.json({ verified: true, accountid: accountId });
  });

  app.get('/account', requireApiKey(deps, 'account'), async (c) => c.json(await accountSummary(deps, c.var.auth.accountId, nowSeconds(deps))));

  app.get('/account/backups', requireApiKey(deps, 'account'), async (c) => {
    const { accountId } = c.var.auth;
    const q = parseWith(listQuery, c.req.query(), 'query');
    const page = await deps.repo.listBackups(accountId, {
      now: nowSeconds(deps), limit: q.limit ? Number(q.limit) : 50, cursor: q.cursor, siteId: q.site, status: q.status,
    });
    return c.json({
      backups: page.items.map((b) => ({ ...backupView(b, ''), siteid: b.siteId, siteurl: b.siteUrl, bucket: b.region, expiredays: b.expireDays, timeexpires: b.expiry })),
      ...(page.cursor ? { nextcursor: page.cursor } : {}),
    });
  });

  return app;
}
