/**
 * Sign-in and sign-up by e-mail one-time code (no passwords), for the web pages (lambdas/web/):
 *
 *   POST /signin/code    {email}          → `{"sent": true, "expiresin": <s>}`: mails a 6-digit code. An address
 *                                            with an account gets a sign-in code, any other a sign-up code; the
 *                                            answer is the same, so nobody learns whether an account exists.
 *                                            While the address has a live code (≥ CODE_RESEND_MIN_SECONDS left,
 *                                            attempts left) the SAME code is mailed again, so a request by
 *                                            someone else never kills the code its owner is typing.
 *                                            Limits per hour: CODES_PER_IP requests per client IP (IPv6: per /64);
 *                                            per address, CODES_PER_ADDRESS_AND_IP mails per requesting IP and
 *                                            mails to at most CODE_IPS_PER_ADDRESS distinct IPs. Beyond the address
 *                                            limits: `{"sent": false, "expiresin"}` while a mailed code is still
 *                                            live (it still works), else 429.
 *   POST /signin/verify  {email, code}    → `{"token", "expiresin", "newaccount"}`: the code is single use, lives
 *                                            10 minutes and allows 5 attempts; VERIFY_PER_IP attempts per hour per
 *                                            IP; FAILURES_PER_ADDRESS wrong codes per hour per address, across
 *                                            codes, then code sign-in of the address is locked until the hour ends.
 *   POST /signin/apikey  Bearer <token>, {siteurl, scopes} → `{"apikey", "keyid", "name", "scopes"}`: a key named
 *                                            after the site, for the plugin's /getapikey iframe. Creates the
 *                                            account (verified: the code proved the address) on first use.
 *
 * The token is a short-lived HS256 JWT (jose) returned in the body, never a cookie: the /getapikey
 * page runs in a cross-site iframe where browsers block third-party cookies. It is signed with the
 * verification secret under its own audience, so a verification link can never pass for it.
 * Codes are stored only as an HMAC and the random nonce they are derived from with the secret, and
 * neither codes nor tokens are ever logged or put in a URL. Tokens carry the account's session epoch
 * (`sessionAccount`): "sign out everywhere" ends them like dashboard sessions.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { SignJWT, jwtVerify } from 'jose';
import * as z from 'zod/mini';
import { apiKeyHint, generateApiKey, hashApiKey, type Scope } from '../domain/api-keys.js';
import { ipBucket } from '../domain/client-address.js';
import { AccountSuspendedError, ApiError, isApiError, RateLimitedError } from '../domain/errors.js';
import { newAccountId, newKeyId } from '../domain/ids.js';
import { DEFAULT_PLAN } from '../domain/plans.js';
import type { Mailer } from '../mail/mailer.js';
import type { SigninStore, StoredCode } from '../store/signin-store.js';
import type { AccountRecord, ApiKeyRecord } from '../store/records.js';
import { nowSeconds, type AccountDeps, type AppEnv } from './deps.js';
import { parseJsonBody } from './validation.js';

/** Lifetime of a one-time code in seconds. */
export const CODE_TTL_SECONDS = 600;
/** Wrong guesses after which a code is dead. */
export const CODE_MAX_ATTEMPTS = 5;
/** Lifetime of a sign-in token in seconds. */
export const TOKEN_TTL_SECONDS = 900;
/** A live code with less than this many seconds left is replaced by a new one instead of mailed again. */
export const CODE_RESEND_MIN_SECONDS = 180;
/** Codes mailed to one address per hour at the request of one client IP (IPv6: /64). */
export const CODES_PER_ADDRESS_AND_IP = 5;
/** Distinct client IPs (IPv6: /64) whose requests get a code mailed to one address per hour. */
export const CODE_IPS_PER_ADDRESS = 6;
/** Codes requested from one client IP (IPv6: /64) per hour. */
export const CODES_PER_IP = 20;
/** Code verifications from one client IP (IPv6: /64) per hour. */
export const VERIFY_PER_IP = 50;
/** Wrong codes per address per hour, across codes; then code sign-in of the address is locked until the hour ends. */
export const FAILURES_PER_ADDRESS = 10;
const HOUR = 3600;
const TOKEN_AUDIENCE = 'vault-cloud/signin';
/** Scopes a site key made by /getapikey may carry (never `account`: a site has no business managing it). */
export const SITE_KEY_SCOPES = ['backup', 'restore'] as const satisfies readonly Scope[];

/** What sign-in needs besides the account API's dependencies. */
export interface SigninDeps {
  store: SigninStore;
  mailer: Mailer;
  /** The caller's IP for per-IP limits (API Gateway's sourceIp, the socket's address locally). */
  clientIp?: (c: Context) => string | undefined;
}

const email = z.lazy(() => z.string().check(z.maxLength(254), z.trim(), z.toLowerCase(), z.email()));
/** Body of `POST /signin/code` (also read by the OpenAPI document, web/openapi.ts). */
export const codeBody = z.lazy(() => z.object({ email }));
/** Body of `POST /signin/verify`. */
export const verifyBody = z.lazy(() => z.object({ email, code: z.string().check(z.trim(), z.regex(/^[0-9]{6}$/, 'must be 6 digits')) }));
/** Body of `POST /signin/apikey`. */
export const apikeyBody = z.lazy(() => z.object({
  siteurl: z.url({ protocol: /^https?$/ }).check(z.maxLength(1000)),
  scopes: z.array(z.enum(SITE_KEY_SCOPES)).check(z.minLength(1), z.maxLength(SITE_KEY_SCOPES.length)),
}));

/** The name a site key gets: the site URL without scheme, trailing slash, query or fragment (≤ 100 chars). */
export function siteKeyName(siteurl: string): string {
  const u = new URL(siteurl);
  return `${u.host}${u.pathname}`.replace(/\/+$/, '').slice(0, 100);
}

function tooMany(): never {
  throw new HTTPException(429, { message: 'Too many requests, please try again later' });
}

/** Code sign-in of an address is locked after FAILURES_PER_ADDRESS wrong codes (429, `Retry-After`). */
export class CodeSigninLockedError extends RateLimitedError {
  constructor(retryAfter: number) {
    super(retryAfter);
    const minutes = Math.ceil(retryAfter / 60);
    this.message = `Too many wrong codes were entered for this address: sign-in by code is locked for it for ${minutes} minute${minutes === 1 ? '' : 's'}. Please try again later.`;
  }
}

function mailText(code: string, existing: boolean, validSeconds: number): { subject: string; text: string } {
  const minutes = Math.max(1, Math.floor(validSeconds / 60));
  return existing
    ? { subject: 'Your Vault Cloud sign-in code', text: `Your sign-in code is ${code}\n\nIt is valid for ${minutes} minutes. If you did not try to sign in, ignore this message.\n` }
    : { subject: 'Confirm your e-mail address for Vault Cloud', text: `Your code to create a Vault Cloud account is ${code}\n\nIt is valid for ${minutes} minutes. If you did not ask for an account, ignore this message.\n` };
}

/** Routes under `/signin`; 503 when `deps.signin` (mail) is not configured. */
export function signinRoutes(deps: AccountDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const signin = deps.signin;
  if (!signin) {
    app.post('/signin/*', (c) => c.json({ message: 'Sign-in by e-mail is not configured on this server' }, 503));
    return app;
  }
  const { store, mailer } = signin;
  const ipOf = (c: Context) => ipBucket(signin.clientIp?.(c) ?? 'unknown');
  const codeHash = (addr: string, code: string) => createHmac('sha256', deps.verifySecret).update(`${addr}\n${code}`).digest('hex');
  // The code is derived from a stored nonce with the secret, so that a live code can be mailed
  // again; the table alone (nonce, HMAC) does not give it away.
  const codeOf = (addr: string, nonce: string) =>
    String(createHmac('sha256', deps.verifySecret).update(`code\n${addr}\n${nonce}`).digest().readUIntBE(0, 6) % 1_000_000).padStart(6, '0');
  const newCode = (addr: string, now: number): StoredCode => {
    const nonce = randomBytes(16).toString('base64url');
    return { nonce, codeHash: codeHash(addr, codeOf(addr, nonce)), expiresAt: now + CODE_TTL_SECONDS };
  };

  app.post('/signin/code', async (c) => {
    const { email: addr } = await parseJsonBody(c, codeBody);
    const now = nowSeconds(deps);
    const ip = ipOf(c);
    if (!(await store.hit('code-ip', ip, CODES_PER_IP, HOUR, now))) tooMany();
    // Per address, mails are counted per requesting IP, and only so many IPs may cause them: one
    // client (a victim's attacker) spends its own budget, not the address owner's.
    if (!(await store.hitDistinct('code-addr', addr, ip, CODES_PER_ADDRESS_AND_IP, CODE_IPS_PER_ADDRESS, HOUR, now))) {
      // A code mailed earlier (by whoever asked for it) still works: say so instead of refusing.
      const live = await store.liveCode(addr, now, 1, CODE_MAX_ATTEMPTS);
      if (live) return c.json({ sent: false, expiresin: live.expiresAt - now });
      tooMany();
    }
    const stored = await store.putCodeUnlessLive(addr, newCode(addr, now), now, CODE_RESEND_MIN_SECONDS, CODE_MAX_ATTEMPTS);
    const existing = (await store.accountIdForEmail(addr)) !== undefined;
    await mailer.send({ to: addr, ...mailText(codeOf(addr, stored.nonce), existing, stored.expiresAt - now) });
    return c.json({ sent: true, expiresin: stored.expiresAt - now });
  });

  app.post('/signin/verify', async (c) => {
    const { email: addr, code } = await parseJsonBody(c, verifyBody);
    const now = nowSeconds(deps);
    if (!(await store.hit('verify-ip', ipOf(c), VERIFY_PER_IP, HOUR, now))) tooMany();
    // Counted before comparing (parallel guesses cannot exceed it) and given back when the guess
    // was no guess: right, or no live code to guess.
    if (!(await store.hit('verify-fail-addr', addr, FAILURES_PER_ADDRESS, HOUR, now))) {
      throw new CodeSigninLockedError(HOUR - (now % HOUR));
    }
    const result = await store.consumeCode(addr, codeHash(addr, code), now, CODE_MAX_ATTEMPTS);
    if (result !== 'wrong') await store.unhit('verify-fail-addr', addr, HOUR, now);
    if (result === 'wrong') throw new ApiError('ERR_BAD_REQUEST', 'The code is not correct');
    if (result === 'expired') throw new ApiError('ERR_BAD_REQUEST', 'The code has expired or was used too often: ask for a new one');
    const accountId = await store.accountIdForEmail(addr);
    const account = accountId ? await proveOwnership(deps, accountId) : undefined;
    const token = await new SignJWT({ email: addr, ep: account?.sessionEpoch ?? 0 })
      .setProtectedHeader({ alg: 'HS256' }).setSubject(addr).setAudience(TOKEN_AUDIENCE)
      .setIssuedAt(now).setExpirationTime(now + TOKEN_TTL_SECONDS).sign(deps.verifySecret);
    return c.json({ token, expiresin: TOKEN_TTL_SECONDS, newaccount: accountId === undefined });
  });

  app.post('/signin/apikey', async (c) => {
    const signedIn = await signedInToken(c.req.header('authorization'), deps);
    await sessionAccount(deps, store, signedIn);
    const addr = signedIn.email;
    const body = await parseJsonBody(c, apikeyBody);
    const { apikey, key } = await issueKey(deps, store, addr, siteKeyName(body.siteurl), body.scopes, nowSeconds(deps));
    return c.json({ apikey, keyid: key.keyId, name: key.name, scopes: key.scopes });
  });

  return app;
}

/**
 * The owner of an address has just proved it with a code. An account registered for it before
 * (`POST /account/register` takes any address and hands out a key) and never verified may
 * belong to someone else: its keys are revoked before the account is marked verified, so keys the
 * owner creates from now on are not shared with whoever registered the address first.
 */
async function proveOwnership(deps: AccountDeps, accountId: string): Promise<AccountRecord | undefined> {
  const account = await deps.repo.getAccount(accountId);
  if (!account || account.verified) return account;
  // Listed again after each pass: a key created meanwhile with a key being revoked goes too.
  for (let pass = 0; pass < 3; pass++) {
    const keys = await deps.repo.listApiKeys(accountId);
    if (!keys.length) break;
    for (const k of keys) await deps.repo.revokeApiKey(accountId, k.keyId, true);
  }
  await deps.repo.markVerified(accountId);
  return account;
}

/**
 * Creates an API key for the account of `email`, creating the account (verified: the caller
 * proved the address with a code) when there is none yet. The key is returned once, here.
 */
export async function issueKey(
  deps: AccountDeps, store: SigninStore, email: string, name: string, scopes: readonly Scope[], now: number,
): Promise<{ apikey: string; key: ApiKeyRecord }> {
  const apikey = generateApiKey();
  const make = (accountId: string): ApiKeyRecord => ({
    keyId: newKeyId(), accountId, name, scopes: [...new Set(scopes)], hint: apiKeyHint(apikey), createdAt: now,
  });
  const existing = await store.accountIdForEmail(email);
  if (existing) {
    const key = make(existing);
    await deps.repo.createApiKey(key, hashApiKey(apikey));
    return { apikey, key };
  }
  const accountId = newAccountId();
  try {
    const key = make(accountId);
    await deps.repo.createAccount({ accountId, email, plan: DEFAULT_PLAN, verified: true, createdAt: now }, key, hashApiKey(apikey));
    return { apikey, key };
  } catch (err) {
    // Created meanwhile (another tab, or /account/register): add the key to that account.
    const raced = isApiError(err, 'ERR_EMAIL_TAKEN') ? await store.accountIdForEmail(email) : undefined;
    if (!raced) throw err;
    const key = make(raced);
    await deps.repo.createApiKey(key, hashApiKey(apikey));
    return { apikey, key };
  }
}

/** Who a sign-in token or session was issued to, and in which session epoch of the account. */
export interface SignedIn {
  email: string;
  epoch: number;
}

/** The address (and epoch) a `Bearer` sign-in token was issued to; 401 when missing, forged or expired. */
export async function signedInToken(authorization: string | undefined, deps: Pick<AccountDeps, 'verifySecret' | 'now'>): Promise<SignedIn> {
  const token = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/.exec(authorization ?? '')?.[1];
  if (token) {
    try {
      const { payload } = await jwtVerify(token, deps.verifySecret, {
        audience: TOKEN_AUDIENCE, algorithms: ['HS256'], currentDate: deps.now?.() ?? new Date(),
      });
      if (typeof payload.sub === 'string' && payload.sub) return { email: payload.sub, epoch: typeof payload.ep === 'number' ? payload.ep : 0 };
    } catch {
      // fall through: any failure is the same 401
    }
  }
  throw new ApiError('ERR_UNAUTHENTICATED', 'Please sign in again');
}

/**
 * The account behind a sign-in token or dashboard session, checked on every use: a suspended
 * account is refused (403, with the operator's reason), and a token or session of an older epoch
 * ("sign out everywhere" since) is refused with 401. Undefined: the address has no account yet.
 */
export async function sessionAccount(deps: AccountDeps, store: SigninStore, who: SignedIn): Promise<AccountRecord | undefined> {
  const accountId = await store.accountIdForEmail(who.email);
  if (!accountId) return undefined;
  // Consistent read (repository): a suspension or "sign out everywhere" holds from the next request.
  const account = await deps.repo.getAccount(accountId);
  if (!account) return undefined;
  if (account.suspendedAt !== undefined) throw new AccountSuspendedError(account.suspendedReason ?? 'no reason given');
  if ((account.sessionEpoch ?? 0) !== who.epoch) throw new ApiError('ERR_UNAUTHENTICATED', 'You were signed out everywhere: please sign in again');
  return account;
}
