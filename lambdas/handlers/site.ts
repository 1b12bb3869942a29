/** Lambda entry point for the site protocol (tool_vault / vault-agent). */
import { handle } from 'hono/aws-lambda';
import { createSiteApp } from '../site-app.js';
import { siteDepsFromEnv } from './site-env.js';

/** API Gateway (HTTP API) handler. */
export const handler = handle(createSiteApp(siteDepsFromEnv()));
