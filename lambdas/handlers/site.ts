/** Lambda entry point for the site protocol (tool_vault / vault-agent). */
import { handle } from 'hono/aws-lambda';
import { createAppFromEnv } from './from-env.js';

/** API Gateway (HTTP API) handler. */
export const handler = handle(createAppFromEnv());
