/** Lambda entry point for the account API (register, keys, usage, backups across sites). */
import { handle } from 'hono/aws-lambda';
import { createAccountApp } from '../account-app.js';
import { accountDepsFromEnv } from './account-env.js';

/** API Gateway (HTTP API) handler. */
export const handler = handle(createAccountApp(accountDepsFromEnv()));
