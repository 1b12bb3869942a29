/** The account function's dependencies from the environment (variables: see the header of from-env.ts). */
import { createHash, randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import type { LambdaEvent } from 'hono/aws-lambda';
import { smtpMailer, smtpSettingsFromEnv, type Mailer } from '../mail/mailer.js';
import { sesMailer } from '../mail/ses-mailer.js';
import type { AccountDeps } from '../routes/deps.js';
import { createSigninStore } from '../store/signin-store.js';
import { documentClientFromEnv, rateLimitsFromEnv, repoFromEnv } from './from-env.js';

/** Dependencies of the account function: the table and the verification settings, no storage. */
export function accountDepsFromEnv(env: NodeJS.ProcessEnv = process.env): AccountDeps {
  // One client for the repository and the sign-in store.
  const ddb = documentClientFromEnv(env);
  const repo = repoFromEnv(env, ddb);
  const secret = env.VERIFY_SECRET;
  if (!secret) console.warn('VERIFY_SECRET is not set: verification links will not survive this instance');
  else if (secret.length < 32) throw new Error('VERIFY_SECRET must be at least 32 characters');
  const logLinks = env.LOG_VERIFICATION_LINKS === 'true';
  const mailer = mailerFromEnv(env);
  const tableName = env.TABLE_NAME ?? '';
  return {
    repo,
    directRegister: env.DIRECT_REGISTER !== 'false',
    ...(mailer ? {
      signin: {
        store: createSigninStore(ddb, tableName),
        mailer,
        clientIp: lambdaClientIp,
      },
    } : {}),
    verifySecret: secret ? createHash('sha256').update(secret).digest() : randomBytes(32),
    publicUrl: env.PUBLIC_URL,
    rateLimits: rateLimitsFromEnv(env),
    sendVerification: (email, link) => {
      // The link is a bearer token: only print it when explicitly asked (local runs).
      console.log(JSON.stringify({ level: 'info', msg: 'verification issued', email: email.replace(/^(.).*@/, '$1***@'), ...(logLinks ? { link } : {}) }));
    },
  };
}

/** The mailer the environment configures: SMTP_HOST → SMTP, else MAIL_FROM → SES, else none. */
export function mailerFromEnv(env: NodeJS.ProcessEnv = process.env): Mailer | undefined {
  const smtp = smtpSettingsFromEnv(env);
  if (smtp) return smtpMailer(smtp);
  if (env.MAIL_FROM) return sesMailer({ from: env.MAIL_FROM, region: env.AWS_REGION, configurationSet: env.SES_CONFIGURATION_SET });
  return undefined;
}

/** API Gateway's view of the caller's address (HTTP API payload 2.0), for per-IP limits. */
function lambdaClientIp(c: Context): string | undefined {
  const event = (c.env as { event?: LambdaEvent } | undefined)?.event;
  const ctx = event?.requestContext as { http?: { sourceIp?: string }; identity?: { sourceIp?: string } } | undefined;
  return ctx?.http?.sourceIp ?? ctx?.identity?.sourceIp;
}
