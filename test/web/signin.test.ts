/**
 * E-mail one-time-code sign-in (lambdas/routes/signin.ts) over HTTP against DynamoDB Local:
 * same answer for known and unknown addresses, single-use codes with 5 attempts and a 10-minute
 * life, per-address and per-IP limits (moved through with the injectable clock), short-lived
 * tokens, and site keys that the plugin's `GET validateapikey` accepts.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import { createApp } from '../../lambdas/app.js';
import type { AppEnv } from '../../lambdas/routes/deps.js';
import {
  CODE_IPS_PER_ADDRESS, CODE_MAX_ATTEMPTS, CODE_RESEND_MIN_SECONDS, CODE_TTL_SECONDS, CODES_PER_ADDRESS_AND_IP, CODES_PER_IP,
  FAILURES_PER_ADDRESS, TOKEN_TTL_SECONDS,
} from '../../lambdas/routes/signin.js';
import { startTestApi, type TestApi } from '../support/api-server.js';
import { PluginClient } from '../api/plugin-client.js';

let api: TestApi;
/** The same API in process, taking the client IP from an `X-Test-Ip` header (to play several clients). */
let ipApp: Hono<AppEnv>;
let clock = Date.parse('2026-01-05T10:00:00Z');
beforeAll(async () => {
  api = await startTestApi({ regions: ['eu'], now: () => new Date(clock) });
  const signin = api.deps.signin;
  if (!signin) throw new Error('the test API has sign-in');
  ipApp = createApp({ ...api.deps, signin: { ...signin, clientIp: (c) => c.req.header('x-test-ip') } });
});
afterAll(async () => {
  await api?.close();
});
// Every test starts in fresh rate-limit windows (they are hourly).
beforeEach(() => {
  clock += 2 * 3600_000;
});

const addr = (tag: string) => `${tag}-${randomBytes(4).toString('hex')}@example.com`;

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${api.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** `POST path` on `ipApp` as the client `ip`. */
async function postFrom(ip: string, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await ipApp.request(path, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Test-Ip': ip }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** A 6-digit code other than `code`. */
const wrongCode = (code: string, n = 1) => String((Number(code) + n) % 1_000_000).padStart(6, '0');

/** The code in the last message mailed to `email`. */
function lastCode(email: string): string {
  const mail = api.mails.filter((m) => m.to === email).at(-1);
  const code = /\b([0-9]{6})\b/.exec(mail?.text ?? '')?.[1];
  if (!code) throw new Error(`no code mailed to ${email}`);
  return code;
}

async function signIn(email: string): Promise<string> {
  expect((await post('/signin/code', { email })).status).toBe(200);
  const res = await post('/signin/verify', { email, code: lastCode(email) });
  expect(res.status).toBe(200);
  return res.body.token as string;
}

describe('codes', () => {
  it('answers the same for a new and an existing address, mailing a sign-up or a sign-in code', async () => {
    const existing = addr('old');
    await api.registerAccount(existing);
    const fresh = addr('new');
    const a = await post('/signin/code', { email: existing });
    const b = await post('/signin/code', { email: fresh.toUpperCase() });
    expect(a).toEqual({ status: 200, body: { sent: true, expiresin: 600 } });
    expect(b).toEqual(a);
    expect(api.mails.find((m) => m.to === existing)?.subject).toBe('Your Vault Cloud sign-in code');
    expect(api.mails.find((m) => m.to === fresh)?.subject).toBe('Confirm your e-mail address for Vault Cloud');
    // The code is only in the body, never in the subject (which the local mailbox logs).
    for (const m of api.mails) expect(m.subject).not.toMatch(/[0-9]{6}/);
  });

  it('is single use', async () => {
    const email = addr('once');
    await post('/signin/code', { email });
    const code = lastCode(email);
    expect((await post('/signin/verify', { email, code })).status).toBe(200);
    const again = await post('/signin/verify', { email, code });
    expect(again.status).toBe(400);
    expect(again.body.message).toMatch(/expired/);
  });

  it(`dies after ${CODE_MAX_ATTEMPTS} attempts, also for the right code`, async () => {
    const email = addr('guess');
    await post('/signin/code', { email });
    const code = lastCode(email);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    for (let i = 0; i < CODE_MAX_ATTEMPTS; i++) {
      expect(await post('/signin/verify', { email, code: wrong })).toEqual({ status: 400, body: { message: 'The code is not correct' } });
    }
    expect((await post('/signin/verify', { email, code })).status).toBe(400);
  });

  it('expires after 10 minutes; a new code replaces the old one', async () => {
    const email = addr('late');
    await post('/signin/code', { email });
    const first = lastCode(email);
    clock += 601_000;
    expect((await post('/signin/verify', { email, code: first })).status).toBe(400);
    await post('/signin/code', { email });
    const second = lastCode(email);
    if (second !== first) expect((await post('/signin/verify', { email, code: first })).status).toBe(400);
    expect((await post('/signin/verify', { email, code: second })).status).toBe(200);
  });

  it('mails the same code again while it is live, without new attempts or a longer life', async () => {
    const email = addr('again');
    expect(await post('/signin/code', { email })).toEqual({ status: 200, body: { sent: true, expiresin: CODE_TTL_SECONDS } });
    const first = lastCode(email);
    expect((await post('/signin/verify', { email, code: wrongCode(first) })).status).toBe(400);
    clock += 60_000;
    // Someone (its owner, or anyone else) asks again: the code being typed stays valid.
    expect(await post('/signin/code', { email })).toEqual({ status: 200, body: { sent: true, expiresin: CODE_TTL_SECONDS - 60 } });
    expect(lastCode(email)).toBe(first);
    expect(api.mails.filter((m) => m.to === email)).toHaveLength(2);
    expect(api.mails.at(-1)?.text).toContain('valid for 9 minutes');
    // The attempts were not reset: 1 was spent before, so after 4 more the code is dead.
    for (let i = 0; i < CODE_MAX_ATTEMPTS - 1; i++) expect((await post('/signin/verify', { email, code: wrongCode(first, i + 2) })).status).toBe(400);
    expect((await post('/signin/verify', { email, code: first })).body.message).toMatch(/expired or was used too often/);
    // A dead code is replaced by a new one.
    await post('/signin/code', { email });
    const second = lastCode(email);
    expect((await post('/signin/verify', { email, code: second })).status).toBe(200);
    // Close to its end a code is not mailed again: a new one is.
    await post('/signin/code', { email });
    const third = lastCode(email);
    clock += (CODE_TTL_SECONDS - CODE_RESEND_MIN_SECONDS + 1) * 1000;
    expect(await post('/signin/code', { email })).toEqual({ status: 200, body: { sent: true, expiresin: CODE_TTL_SECONDS } });
    const fourth = lastCode(email);
    if (fourth !== third) expect((await post('/signin/verify', { email, code: third })).status).toBe(400);
    expect((await post('/signin/verify', { email, code: fourth })).status).toBe(200);
  });

  it(`mails at most ${CODES_PER_ADDRESS_AND_IP} codes per address per requesting IP, so another client cannot use up the owner's`, async () => {
    const email = addr('flood');
    const attacker = '198.51.100.7';
    for (let i = 0; i < CODES_PER_ADDRESS_AND_IP; i++) expect((await postFrom(attacker, '/signin/code', { email })).status).toBe(200);
    // Nothing more is mailed for this client; the code it had mailed still works, and it is told so.
    expect((await postFrom(attacker, '/signin/code', { email })).body).toEqual({ sent: false, expiresin: CODE_TTL_SECONDS });
    expect(api.mails.filter((m) => m.to === email)).toHaveLength(CODES_PER_ADDRESS_AND_IP);
    // The owner, elsewhere, still gets the code mailed, and signs in with it.
    expect((await postFrom('203.0.113.9', '/signin/code', { email })).body).toEqual({ sent: true, expiresin: CODE_TTL_SECONDS });
    expect((await postFrom('203.0.113.9', '/signin/verify', { email, code: lastCode(email) })).status).toBe(200);
    // Without a live code, a client over its limit gets 429.
    expect(await postFrom(attacker, '/signin/code', { email })).toMatchObject({ status: 429, body: { message: 'Too many requests, please try again later' } });
    clock += 3600_000;
    expect((await postFrom(attacker, '/signin/code', { email })).status).toBe(200);
  });

  it(`mails codes for one address to at most ${CODE_IPS_PER_ADDRESS} client IPs per hour (an IPv6 /64 is one)`, async () => {
    const email = addr('many');
    for (let i = 0; i < CODE_IPS_PER_ADDRESS; i++) {
      expect((await postFrom(`2001:db8:${i}::1`, '/signin/code', { email })).status).toBe(200);
      // Another address of the same /64 is the same client.
      expect((await postFrom(`2001:db8:${i}::ffff`, '/signin/code', { email })).body.sent).toBe(true);
    }
    expect(api.mails.filter((m) => m.to === email)).toHaveLength(2 * CODE_IPS_PER_ADDRESS);
    expect((await postFrom('192.0.2.99', '/signin/code', { email })).body.sent).toBe(false);
    clock += (CODE_TTL_SECONDS + 1) * 1000;
    expect((await postFrom('192.0.2.99', '/signin/code', { email })).status).toBe(429);
  });

  it(`counts code requests per IPv6 /64, not per address (${CODES_PER_IP} per hour)`, async () => {
    for (let i = 0; i < CODES_PER_IP; i++) expect((await postFrom(`2001:db8:aa:bb::${(i + 1).toString(16)}`, '/signin/code', { email: addr(`v6-${i}`) })).status).toBe(200);
    expect((await postFrom('2001:db8:aa:bb:1:2:3:4', '/signin/code', { email: addr('v6-over') })).status).toBe(429);
    expect((await postFrom('2001:db8:aa:bc::1', '/signin/code', { email: addr('v6-next') })).status).toBe(200);
  });

  it(`locks code sign-in of an address after ${FAILURES_PER_ADDRESS} wrong codes in an hour, across codes and clients`, async () => {
    const email = addr('locked');
    let failures = 0;
    for (let round = 0; failures < FAILURES_PER_ADDRESS; round++) {
      // Each round: a fresh code (the last one died after its attempts), guessed from a new client.
      clock += 1000;
      const ip = `198.51.100.${round + 1}`;
      expect((await postFrom(ip, '/signin/code', { email })).status).toBe(200);
      const code = lastCode(email);
      for (let i = 0; i < CODE_MAX_ATTEMPTS && failures < FAILURES_PER_ADDRESS; i++, failures++) {
        expect((await postFrom(ip, '/signin/verify', { email, code: wrongCode(code, i + 1) })).status).toBe(400);
      }
    }
    // Even the right code of a fresh code is refused now, from anywhere, saying why and for how long.
    expect((await postFrom('203.0.113.50', '/signin/code', { email })).status).toBe(200);
    const locked = await postFrom('203.0.113.50', '/signin/verify', { email, code: lastCode(email) });
    expect(locked.status).toBe(429);
    expect(locked.body.message).toMatch(/^Too many wrong codes were entered for this address: sign-in by code is locked for it for \d+ minutes/);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    clock += Number(locked.headers.get('retry-after')) * 1000;
    expect((await postFrom('203.0.113.50', '/signin/code', { email })).status).toBe(200);
    expect((await postFrom('203.0.113.50', '/signin/verify', { email, code: lastCode(email) })).status).toBe(200);
  });

  it('does not count a right code, or a guess when no code is live, as a failure', async () => {
    const email = addr('fine');
    for (let i = 0; i < FAILURES_PER_ADDRESS + 2; i++) expect((await post('/signin/verify', { email, code: '123456' })).status).toBe(400);
    for (let i = 0; i < 3; i++) {
      await post('/signin/code', { email });
      expect((await post('/signin/verify', { email, code: lastCode(email) })).status).toBe(200);
    }
    await post('/signin/code', { email });
    const code = lastCode(email);
    expect((await post('/signin/verify', { email, code: wrongCode(code) })).status).toBe(400);
    expect((await post('/signin/verify', { email, code })).status).toBe(200);
  });

  it(`takes at most ${CODES_PER_IP} code requests per IP per hour`, async () => {
    for (let i = 0; i < CODES_PER_IP; i++) expect((await post('/signin/code', { email: addr(`ip${i}`) })).status).toBe(200);
    expect((await post('/signin/code', { email: addr('ip-over') })).status).toBe(429);
  });

  it('refuses malformed input', async () => {
    expect((await post('/signin/code', { email: 'not-an-address' })).status).toBe(400);
    expect((await post('/signin/verify', { email: addr('x'), code: '12345' })).status).toBe(400);
  });
});

describe('site keys', () => {
  it('creates the account on first use, with a key named after the site that validateapikey accepts', async () => {
    const email = addr('site');
    const token = await signIn(email);
    const res = await post('/signin/apikey', { siteurl: 'https://moodle.example.com/sub/', scopes: ['backup', 'restore'] }, { Authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'moodle.example.com/sub', scopes: ['backup', 'restore'] });
    const site = new PluginClient(api.url, res.body.apikey as string);
    expect((await site.call('GET', 'validateapikey')).status).toBe(200);
    // A site key cannot manage the account.
    expect((await site.call('GET', 'account')).status).toBe(403);
  });

  it('revokes the keys of an account registered for the address before its owner proved it', async () => {
    const victim = addr('victim');
    // Anyone can register any address and get a key: an attacker registers the victim's first.
    const { apikey: attackerKey } = await api.registerAccount(victim);
    const token = await signIn(victim);
    const res = await post('/signin/apikey', { siteurl: 'http://localhost:8080', scopes: ['backup', 'restore'] }, { Authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    expect((await new PluginClient(api.url, attackerKey).call('GET', 'validateapikey')).status).toBe(401);
    const owner = new PluginClient(api.url, res.body.apikey as string);
    expect((await owner.call('GET', 'validateapikey')).status).toBe(200);
    // Signing in again keeps the owner's keys: the address is proven now.
    await signIn(victim);
    expect((await owner.call('GET', 'validateapikey')).status).toBe(200);
  });

  it('adds the key to an existing account, with only the chosen scopes', async () => {
    const email = addr('known');
    const { accountid } = await api.registerAccount(email);
    const token = await signIn(email);
    const res = await post('/signin/apikey', { siteurl: 'http://localhost:8080', scopes: ['restore'] }, { Authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    const keys = await api.deps.repo.listApiKeys(accountid);
    expect(keys.find((k) => k.name === 'localhost:8080')?.scopes).toEqual(['restore']);
    const restoreOnly = new PluginClient(api.url, res.body.apikey as string);
    expect((await restoreOnly.call('PUT', 'backups', { precheckonly: 1 })).status).toBe(403);
    expect((await api.deps.repo.getAccount(accountid))?.verified).toBe(true);
  });

  it('needs a valid, unexpired sign-in token and a site URL', async () => {
    const email = addr('tok');
    const token = await signIn(email);
    const body = { siteurl: 'https://m.example.com', scopes: ['backup'] };
    expect((await post('/signin/apikey', body)).status).toBe(401);
    expect((await post('/signin/apikey', body, { Authorization: `Bearer ${token.slice(0, -2)}xx` })).status).toBe(401);
    // A verification link's token (other audience, same secret) is no sign-in token.
    await api.registerAccount(addr('link'));
    const link = api.verifications.at(-1)?.link ?? '';
    const linkToken = new URL(link).searchParams.get('token') ?? '';
    expect((await post('/signin/apikey', body, { Authorization: `Bearer ${linkToken}` })).status).toBe(401);
    expect((await post('/signin/apikey', { ...body, siteurl: 'javascript:alert(1)' }, { Authorization: `Bearer ${token}` })).status).toBe(400);
    expect((await post('/signin/apikey', { ...body, scopes: ['account'] }, { Authorization: `Bearer ${token}` })).status).toBe(400);
    clock += (TOKEN_TTL_SECONDS + 1) * 1000;
    expect(await post('/signin/apikey', body, { Authorization: `Bearer ${token}` })).toEqual({ status: 401, body: { message: 'Please sign in again' } });
  });
});

describe('pages and switches', () => {
  it('serves /getapikey frameable by any site with a strict CSP, its assets and nothing inline', async () => {
    const res = await fetch(`${api.url}/getapikey?siteid=S1&siteurl=${encodeURIComponent('https://m.example.com/x?a="<b>')}&tab=signup`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain('frame-ancestors *');
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-frame-options')).toBeNull();
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/); // no inline script
    expect(html).toContain('data-siteorigin="https://m.example.com"');
    expect(html).toContain('https://m.example.com/x?a=&#34;&#60;b&#62;'); // escaped, never raw
    expect(html).toContain('data-tab="signup"');
    for (const asset of ['getapikey.js', 'style.css']) {
      const a = await fetch(`${api.url}/web/${asset}`);
      expect(a.status).toBe(200);
      expect(a.headers.get('x-content-type-options')).toBe('nosniff');
    }
    expect((await fetch(`${api.url}/web/nothing.js`)).status).toBe(404);
    const bad = await fetch(`${api.url}/getapikey?siteurl=javascript:alert(1)`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).not.toContain('id="app"');
  });

  it('turns POST /account/register off with directRegister: false', async () => {
    const { createApp } = await import('../../lambdas/app.js');
    const app = createApp({ ...api.deps, directRegister: false });
    const res = await app.request('/account/register', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email: addr('off') }) });
    expect(res.status).toBe(404);
  });
});

describe('information pages', () => {
  it('lists every plan of plans.ts on / and /plans, and answers /faq, none of them frameable', async () => {
    const { PLANS } = await import('../../lambdas/domain/plans.js');
    const { planCells } = await import('../../lambdas/web/info-pages.js');
    for (const path of ['/', '/plans', '/faq']) {
      const res = await fetch(`${api.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      const html = await res.text();
      expect(html).not.toContain('<script');
      if (path === '/faq') continue;
      for (const plan of Object.values(PLANS)) {
        expect(html).toContain(`<th scope="row">${plan.label}</th>`);
        for (const cell of planCells(plan)) expect(html).toContain(cell.replace(/&/g, '&#38;'));
      }
    }
    expect(planCells(PLANS.free).slice(1, 5)).toEqual(['2 GiB', '7 days', '3', '2']);
    expect(planCells(PLANS.pro)[2]).toBe('1–365 days or never (default never)');
  });
});

describe('dashboard session', () => {
  it('trades a sign-in token for an HttpOnly SameSite=Strict cookie that manages keys, refusing cross-site calls', async () => {
    const email = addr('dash');
    const token = await signIn(email);
    const json = { 'Content-Type': 'application/json' };
    const login = await fetch(`${api.url}/signin/session`, { method: 'POST', headers: { ...json, Authorization: `Bearer ${token}` }, body: '{}' });
    expect(login.status).toBe(200);
    const setCookie = login.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^vault_session=[\w-]+\.[\w-]+\.[\w-]+;/);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).not.toContain('Secure'); // plain http locally; https (AWS) adds it
    const cookie = setCookie.split(';')[0] as string;
    const dash = (method: string, path: string, body?: unknown, headers: Record<string, string> = json) =>
      fetch(`${api.url}${path}`, { method, headers: { ...headers, Cookie: cookie }, body: body === undefined ? undefined : JSON.stringify(body) });

    expect(await (await dash('GET', '/dashboard/api/keys')).json()).toEqual({ email, keys: [] });
    const created = (await (await dash('POST', '/dashboard/api/keys', { name: 'laptop', scopes: ['restore', 'account'] })).json()) as Record<string, unknown>;
    expect(created).toMatchObject({ name: 'laptop', scopes: ['restore', 'account'] });
    expect((await new PluginClient(api.url, created.apikey as string).call('GET', 'account')).status).toBe(200);
    const listed = (await (await dash('GET', '/dashboard/api/keys')).json()) as { keys: { keyid: string }[] };
    expect(listed.keys.map((k) => k.keyid)).toEqual([created.keyid]);

    // CSRF: a form post (no JSON type) or another Origin is refused; so is no cookie at all.
    expect((await dash('POST', '/dashboard/api/keys', { name: 'x', scopes: ['backup'] }, { 'Content-Type': 'text/plain' })).status).toBe(403);
    expect((await dash('POST', '/dashboard/api/keys', { name: 'x', scopes: ['backup'] }, { ...json, Origin: 'https://evil.example' })).status).toBe(403);
    expect((await fetch(`${api.url}/dashboard/api/keys`)).status).toBe(401);
    // The last key goes only with confirmation.
    expect((await dash('DELETE', `/dashboard/api/keys/${created.keyid}`)).status).toBe(409);
    expect((await dash('DELETE', `/dashboard/api/keys/${created.keyid}?confirm=lastkey`)).status).toBe(200);
    expect((await dash('GET', '/dashboard/api/keys').then((r) => r.json()) as { keys: unknown[] }).keys).toEqual([]);

    const out = await dash('POST', '/signout', {});
    expect(out.headers.get('set-cookie')).toMatch(/^vault_session=;.*Max-Age=0/);
    // A sign-in token is no session: only the cookie opens the dashboard API.
    expect((await fetch(`${api.url}/dashboard/api/keys`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(401);
    const page = await fetch(`${api.url}/dashboard`);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
  });
});

describe('dashboard sessions end on the server', () => {
  const json = { 'Content-Type': 'application/json' };
  /** A session cookie (`vault_session=…`) for `email`. */
  async function session(email: string): Promise<string> {
    const token = await signIn(email);
    const res = await fetch(`${api.url}/signin/session`, { method: 'POST', headers: { ...json, Authorization: `Bearer ${token}` }, body: '{}' });
    expect(res.status).toBe(200);
    return (res.headers.get('set-cookie') ?? '').split(';')[0] as string;
  }
  const dash = (cookie: string, method: string, path: string) =>
    fetch(`${api.url}${path}`, { method, headers: { ...json, Cookie: cookie }, body: method === 'GET' ? undefined : '{}' });

  it('signs a suspended account out on its next request, saying why, and lets it back in once resumed', async () => {
    const email = addr('susp');
    const { accountid } = await api.registerAccount(email, 'free', { verified: true });
    const cookie = await session(email);
    expect((await dash(cookie, 'GET', '/dashboard/api/backups')).status).toBe(200);
    await api.deps.repo.suspendAccount(accountid, 'unpaid invoice', Math.floor(clock / 1000));
    for (const path of ['/dashboard/api/account', '/dashboard/api/backups', '/dashboard/api/keys', '/dashboard/api/restores']) {
      const res = await dash(cookie, 'GET', path);
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ message: 'This account is suspended: unpaid invoice. Contact the operator.' });
      expect(res.headers.get('set-cookie')).toMatch(/^vault_session=;.*Max-Age=0/);
    }
    // No new session either, and no key by the /getapikey path.
    const token = await signIn(email);
    expect((await fetch(`${api.url}/signin/session`, { method: 'POST', headers: { ...json, Authorization: `Bearer ${token}` }, body: '{}' })).status).toBe(403);
    expect((await post('/signin/apikey', { siteurl: 'https://m.example.com', scopes: ['backup'] }, { Authorization: `Bearer ${token}` })).status).toBe(403);
    await api.deps.repo.resumeAccount(accountid);
    expect((await dash(cookie, 'GET', '/dashboard/api/backups')).status).toBe(200);
  });

  it('"sign out everywhere" ends every session and sign-in token of the account, not its keys', async () => {
    const email = addr('everywhere');
    const { apikey } = await api.registerAccount(email, 'free', { verified: true });
    const laptop = await session(email);
    const phone = await session(email);
    const pendingToken = await signIn(email);
    expect((await dash(phone, 'GET', '/dashboard/api/keys')).status).toBe(200);

    // CSRF-safe like the other changes: JSON only, same origin.
    const form = await fetch(`${api.url}/signout/everywhere`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: laptop }, body: 'x=1' });
    expect(form.status).toBe(403);
    const foreign = await fetch(`${api.url}/signout/everywhere`, { method: 'POST', headers: { ...json, Origin: 'https://evil.example', Cookie: laptop }, body: '{}' });
    expect(foreign.status).toBe(403);
    expect((await dash(phone, 'GET', '/dashboard/api/keys')).status).toBe(200);

    const out = await dash(laptop, 'POST', '/signout/everywhere');
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/^vault_session=;.*Max-Age=0/);
    for (const cookie of [laptop, phone]) {
      const res = await dash(cookie, 'GET', '/dashboard/api/keys');
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ message: 'You were signed out everywhere: please sign in again' });
    }
    // A sign-in token issued before is dead too (no session, no site key from it).
    expect((await fetch(`${api.url}/signin/session`, { method: 'POST', headers: { ...json, Authorization: `Bearer ${pendingToken}` }, body: '{}' })).status).toBe(401);
    expect((await post('/signin/apikey', { siteurl: 'https://m.example.com', scopes: ['backup'] }, { Authorization: `Bearer ${pendingToken}` })).status).toBe(401);
    // API keys are not sessions: they keep working.
    expect((await new PluginClient(api.url, apikey).call('GET', 'validateapikey')).status).toBe(200);
    // Signing in again works, in the new epoch.
    const again = await session(email);
    expect((await dash(again, 'GET', '/dashboard/api/keys')).status).toBe(200);
    expect((await dash(laptop, 'GET', '/dashboard/api/keys')).status).toBe(401);
  });

  it('deletes the objects of a backup deleted in the dashboard at once where the process has storage', async () => {
    const email = addr('objects');
    const { apikey, accountid } = await api.registerAccount(email, 'free', { verified: true });
    const site = new PluginClient(api.url, apikey);
    const put = await site.call('PUT', 'backups', { description: 'd', expiredays: 7 });
    expect(put.status).toBe(200);
    const backupkey = (put.body as { backupkey: string }).backupkey;
    const prefix = `${accountid}/${backupkey}/`;
    const storage = api.deps.storage;
    const upload = await storage.presignPut('eu', `${prefix}dbstructure.zip`, false, 60);
    const headers = Object.fromEntries(upload.headers.map((h) => h.split(': ') as [string, string]));
    expect((await fetch(upload.url, { method: 'PUT', headers, body: new Uint8Array(100) })).status).toBe(200);
    expect((await storage.objectInfo('eu', `${prefix}dbstructure.zip`))?.size).toBe(100);
    const cookie = await session(email);
    expect((await dash(cookie, 'DELETE', `/dashboard/api/backups/${backupkey}`)).status).toBe(200);
    expect(await storage.objectInfo('eu', `${prefix}dbstructure.zip`)).toBeUndefined();
    expect((await api.deps.repo.getBackup(accountid, backupkey))?.objectsDeleted).toBeTruthy();
  });
});
