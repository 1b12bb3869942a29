/** Lambda entry point for the account API (register, keys, usage, backups across sites). */
import { handle } from 'hono/aws-lambda';
import { createAppFromEnv } from './from-env.js';

export const handler = handle(createAppFromEnv());
