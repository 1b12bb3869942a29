/**
 * `startTestApi()`: the real API over the test run's DynamoDB Local and Ceph RGW, served over
 * HTTP on a free 127.0.0.1 port. Each call gets its own table and buckets (unique names), so
 * tests and suites never see each other's data. Use inside a vitest test or hook of a run whose
 * `VAULT_TEST_SERVICES` includes `ddb` and `rgw`.
 *
 * ```ts
 * const api = await startTestApi();
 * const { apikey } = await api.registerAccount('me@example.com', 'pro');
 * // point tool_vault / vault-agent at api.url with apikey ...
 * await api.close();
 * ```
 */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Hono } from 'hono';
import { createApp, type AppDeps } from '../../lambdas/app.js';
import type { PlanId } from '../../lambdas/domain/plans.js';
import { STORAGE_REGIONS } from '../../lambdas/domain/regions.js';
import type { AppEnv } from '../../lambdas/routes/deps.js';
import { createS3Client } from '../../lambdas/store/aws-clients.js';
import { ensureBuckets, ensureTable } from '../../lambdas/store/ensure-stores.js';
import { createObjectStorage } from '../../lambdas/store/object-storage.js';
import { createRepository } from '../../lambdas/store/repository.js';
import { nodeClientIp } from '../../lambdas/local/client-ip.js';
import { startLocalSmtp, type LocalSmtp } from '../../lambdas/mail/local-smtp.js';
import { smtpMailer, type MailMessage, type Mailer } from '../../lambdas/mail/mailer.js';
import { createSigninStore } from '../../lambdas/store/signin-store.js';
import { service } from './services.js';

/** Options of `startTestApi`. */
export interface TestApiOptions {
  /** Storage region ids to create buckets for (default: every region in STORAGE_REGIONS). */
  regions?: string[];
  /** Clock for the API (default real time); change what it returns to move time. */
  now?: () => Date;
  /** Cap of presigned URL lifetimes in seconds (default 3600). */
  maxPresignSeconds?: number;
  /** Largest request body (default 1 MiB). */
  maxBodyBytes?: number;
  /** Plan table override (default `PLANS`), e.g. a free plan with a 1 KiB size limit. */
  plans?: AppDeps['plans'];
  /**
   * Folder for sign-in mail: when set, mail goes over SMTP to the embedded server of `npm start`
   * (lambdas/mail/local-smtp.ts), which writes .eml files there; otherwise it is kept in `mails`.
   */
  mailDir?: string;
}

/** A running test API. */
export interface TestApi {
  /** Base URL without trailing slash, e.g. `http://127.0.0.1:41234` (the plugin's `apiurl`). */
  url: string;
  /** The Hono app (for `app.request(...)` without HTTP). */
  app: Hono<AppEnv>;
  /** The app's dependencies: `deps.repo` (DynamoDB repository), `deps.storage` (S3). */
  deps: AppDeps;
  /** Table name and bucket name per region created for this instance. */
  tableName: string;
  buckets: Record<string, string>;
  /** Verification links "sent" so far (email, link). */
  verifications: { email: string; link: string }[];
  /** Sign-in mail sent so far, when no `mailDir` was given. */
  mails: MailMessage[];
  /**
   * Registers an account (POST /account/register) and puts it on `plan` (default free).
   * `verified`: as if its owner had followed the e-mail verification link (a later code sign-in
   * then keeps its keys; see signin.ts proveOwnership).
   */
  registerAccount(email?: string, plan?: PlanId, opts?: { verified?: boolean }): Promise<{ apikey: string; accountid: string }>;
  /** Stops the HTTP server and the SDK clients (the table and buckets are left to the run's teardown). */
  close(): Promise<void>;
}

/** Starts the API for a test (see module doc). */
export async function startTestApi(opts: TestApiOptions = {}): Promise<TestApi> {
  const ddbEndpoint = service('ddb').endpoint;
  const rgw = service('rgw');
  const suffix = `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
  const tableName = `api_${suffix}`;
  const regionIds = opts.regions ?? STORAGE_REGIONS.map((r) => r.id);
  const buckets = Object.fromEntries(regionIds.map((r) => [r, `api-${suffix}-${r}`]));
  const credentials = { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey };

  const raw = new DynamoDBClient({ endpoint: ddbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const s3 = createS3Client({ endpoint: rgw.endpoint, region: 'us-east-1', credentials });
  await Promise.all([ensureTable(raw, tableName), ensureBuckets(s3, Object.values(buckets))]);
  s3.destroy();

  const verifications: { email: string; link: string }[] = [];
  const mails: MailMessage[] = [];
  let smtp: LocalSmtp | undefined;
  let mailer: Mailer = { send: async (m) => void mails.push(m) };
  if (opts.mailDir) {
    smtp = await startLocalSmtp(opts.mailDir, () => undefined);
    mailer = smtpMailer({ host: '127.0.0.1', port: smtp.port, from: 'Vault Cloud <no-reply@localhost>' });
  }
  const doc = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  const deps: AppDeps = {
    repo: createRepository(doc, tableName),
    signin: { store: createSigninStore(doc, tableName), mailer, clientIp: nodeClientIp },
    storage: createObjectStorage({ buckets, endpoint: rgw.endpoint, credentials }),
    now: opts.now,
    verifySecret: randomBytes(32),
    maxPresignSeconds: opts.maxPresignSeconds ?? 3600,
    maxBodyBytes: opts.maxBodyBytes,
    plans: opts.plans,
    sendVerification: (email, link) => {
      verifications.push({ email, link });
    },
  };
  const app = createApp(deps);
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  let counter = 0;

  return {
    url, app, deps, tableName, buckets, verifications, mails,
    async registerAccount(email, plan = 'free', opts = {}) {
      const res = await app.request('/account/register', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: email ?? `user${++counter}-${suffix}@example.com` }),
      });
      if (res.status !== 200) throw new Error(`register failed: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { apikey: string; accountid: string };
      if (plan !== 'free') await deps.repo.setAccountPlan(body.accountid, plan);
      if (opts.verified) await deps.repo.markVerified(body.accountid);
      return { apikey: body.apikey, accountid: body.accountid };
    },
    async close() {
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      // fetch keeps connections alive; drop them so close() does not wait for their timeout.
      if ('closeAllConnections' in server) server.closeAllConnections();
      await closing;
      mailer.close?.();
      await smtp?.close();
      raw.destroy();
    },
  };
}
