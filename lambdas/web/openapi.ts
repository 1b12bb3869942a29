/**
 * `GET /openapi.json`: an OpenAPI 3.1 document of every route of the route table, its request
 * bodies and queries generated from the zod schemas the routes parse with (`z.toJSONSchema`,
 * JSON Schema 2020-12, the dialect of OpenAPI 3.1), so the document cannot drift from what the
 * API accepts. `GET /api`: the same as a readable page (static HTML, no script).
 */
import { Hono } from 'hono';
import * as z from 'zod/mini';
import { registerBody, listQuery } from '../routes/account.js';
import { putBackupBody, patchBackupBody } from '../routes/backups.js';
import type { AppEnv } from '../routes/deps.js';
import { createKeyBody } from '../routes/keys.js';
import { putRestoreBody, patchRestoreBody } from '../routes/restores.js';
import { ROUTES, type RouteSpec } from '../routes/route-table.js';
import { apikeyBody, codeBody, verifyBody } from '../routes/signin.js';
import { reportBody } from '../routes/site.js';
import { completedBody, uploadBody } from '../routes/uploads.js';
import { dashboardKeyBody } from './dashboard.js';
import { esc, layout } from './html.js';
import { pageHeaders } from './security-headers.js';

type Auth = 'none' | 'apikey' | 'backup' | 'restore' | 'account' | 'signin' | 'session';
type Schema = z.ZodMiniType;

/** What the document says about one route besides the route table's method and path. */
interface OperationDoc {
  summary: string;
  tag: 'site protocol' | 'account' | 'sign-in' | 'dashboard' | 'pages';
  auth: Auth;
  body?: Schema;
  query?: Schema;
  /** Answers HTML (a page) or another non-JSON type instead of a JSON object. */
  produces?: string;
}

const vaultversionQuery = z.object({ vaultversion: z.optional(z.string().check(z.maxLength(40))) });
const confirmQuery = z.object({ confirm: z.optional(z.literal('lastkey')) });
const cursorQuery = z.object({ cursor: z.optional(z.string().check(z.maxLength(2048))) });
const getapikeyQuery = z.object({
  siteurl: z.string().check(z.maxLength(1000)), siteid: z.optional(z.string().check(z.maxLength(100))),
  tab: z.optional(z.enum(['signin', 'signup'])),
});
const HTML = 'text/html';

/** Every route of ROUTES, documented (a test checks that none is missing). */
export const OPERATIONS: Readonly<Record<string, OperationDoc>> = {
  'GET /validateapikey': { summary: 'Check an API key (the plugin, when a key is entered)', tag: 'site protocol', auth: 'apikey' },
  'PUT /backups': { summary: 'Start a backup, or with precheckonly the plan\'s backup options', tag: 'site protocol', auth: 'backup', body: putBackupBody },
  'GET /backups': { summary: 'Backups of the account (empty without the restore scope)', tag: 'site protocol', auth: 'apikey' },
  'GET /backups/{backupkey}': { summary: 'One backup with its files', tag: 'site protocol', auth: 'restore' },
  'PATCH /backups/{backupkey}': { summary: 'Finish or fail a backup, merge info', tag: 'site protocol', auth: 'backup', body: patchBackupBody },
  'POST /backups/{backupkey}/upload/{filename}': { summary: 'Presigned upload URL(s) of an archive', tag: 'site protocol', auth: 'backup', body: uploadBody },
  'POST /backups/{backupkey}/uploadcompleted/{filename}': { summary: 'Record an uploaded archive', tag: 'site protocol', auth: 'backup', body: completedBody },
  'GET /backups/{backupkey}/validate': { summary: 'Whether a backup can be restored (and its passphrase check URL)', tag: 'site protocol', auth: 'restore', query: vaultversionQuery },
  'PUT /restores': { summary: 'Start a restore or a dry run', tag: 'site protocol', auth: 'restore', body: putRestoreBody },
  'PATCH /restores/{restorekey}': { summary: 'Resume, finish or fail a restore, merge info', tag: 'site protocol', auth: 'restore', body: patchRestoreBody },
  'GET /restores/{restorekey}/download/{filename}': { summary: 'Presigned download URL of an archive', tag: 'site protocol', auth: 'restore' },
  'POST /reporterror': { summary: 'Report an error of the plugin', tag: 'site protocol', auth: 'none', body: reportBody },
  'GET /health': { summary: 'Liveness', tag: 'site protocol', auth: 'none' },
  'DELETE /account/backups/{backupkey}': { summary: 'Delete a backup and its objects', tag: 'account', auth: 'account' },
  'POST /account/register': { summary: 'Create an account and its first key (off where sign-in mail works)', tag: 'account', auth: 'none', body: registerBody },
  'GET /account/verify': { summary: 'Confirm the e-mail address (link in the mail)', tag: 'account', auth: 'none', query: z.object({ token: z.string().check(z.maxLength(4096)) }) },
  'GET /account': { summary: 'Account, plan and usage', tag: 'account', auth: 'account' },
  'GET /account/backups': { summary: 'Backups of every site of the account, paged', tag: 'account', auth: 'account', query: listQuery },
  'GET /account/keys': { summary: 'API keys (never the keys themselves)', tag: 'account', auth: 'account' },
  'POST /account/keys': { summary: 'Create an API key (shown once)', tag: 'account', auth: 'account', body: createKeyBody },
  'DELETE /account/keys/{keyid}': { summary: 'Revoke an API key (the last one only with confirm=lastkey)', tag: 'account', auth: 'account', query: confirmQuery },
  'POST /signin/code': { summary: 'Mail a one-time sign-in code', tag: 'sign-in', auth: 'none', body: codeBody },
  'POST /signin/verify': { summary: 'Trade the code for a 15-minute sign-in token', tag: 'sign-in', auth: 'none', body: verifyBody },
  'POST /signin/apikey': { summary: 'Create a site key with the sign-in token (the /getapikey page)', tag: 'sign-in', auth: 'signin', body: apikeyBody },
  'POST /signin/session': { summary: 'Trade the sign-in token for the dashboard session cookie', tag: 'dashboard', auth: 'signin' },
  'POST /signout': { summary: 'Remove the session cookie', tag: 'dashboard', auth: 'none' },
  'POST /signout/everywhere': { summary: 'End every session and sign-in token of the account (sign out everywhere)', tag: 'dashboard', auth: 'session' },
  'GET /dashboard/api/account': { summary: 'Signed-in address, account, plan, usage and all plans', tag: 'dashboard', auth: 'session' },
  'GET /dashboard/api/backups': { summary: 'Backups of the account (100 per page)', tag: 'dashboard', auth: 'session', query: cursorQuery },
  'GET /dashboard/api/backups/{backupkey}': { summary: 'One backup, its files and its restores', tag: 'dashboard', auth: 'session' },
  'DELETE /dashboard/api/backups/{backupkey}': { summary: 'Delete a backup (on AWS its objects go with the next ops run)', tag: 'dashboard', auth: 'session' },
  'GET /dashboard/api/restores': { summary: 'Restores of the account', tag: 'dashboard', auth: 'session' },
  'GET /dashboard/api/keys': { summary: 'API keys of the account', tag: 'dashboard', auth: 'session' },
  'POST /dashboard/api/keys': { summary: 'Create an API key (shown once)', tag: 'dashboard', auth: 'session', body: dashboardKeyBody },
  'DELETE /dashboard/api/keys/{keyid}': { summary: 'Revoke an API key', tag: 'dashboard', auth: 'session', query: confirmQuery },
  'GET /': { summary: 'Plans page', tag: 'pages', auth: 'none', produces: HTML },
  'GET /plans': { summary: 'Plans page', tag: 'pages', auth: 'none', produces: HTML },
  'GET /faq': { summary: 'Questions and answers', tag: 'pages', auth: 'none', produces: HTML },
  'GET /getapikey': { summary: 'The page the plugin frames to obtain a key', tag: 'pages', auth: 'none', produces: HTML, query: getapikeyQuery },
  'GET /dashboard': { summary: 'Dashboard page', tag: 'pages', auth: 'none', produces: HTML },
  'GET /web/{name}': { summary: 'Script or style sheet of the pages', tag: 'pages', auth: 'none', produces: 'text/javascript' },
  'GET /favicon.ico': { summary: 'No icon (204)', tag: 'pages', auth: 'none', produces: 'image/x-icon' },
  'GET /openapi.json': { summary: 'This document', tag: 'pages', auth: 'none' },
  'GET /api': { summary: 'This document as a page', tag: 'pages', auth: 'none', produces: HTML },
};

const SECURITY: Record<Auth, Record<string, string[]>[]> = {
  none: [], apikey: [{ apiKey: [] }], backup: [{ apiKey: [] }], restore: [{ apiKey: [] }], account: [{ apiKey: [] }],
  signin: [{ signinToken: [] }], session: [{ session: [] }],
};

const AUTH_TEXT: Record<Auth, string> = {
  none: 'none', apikey: 'API key', backup: 'API key with scope backup', restore: 'API key with scope restore',
  account: 'API key with scope account', signin: 'sign-in token (Bearer)', session: 'session cookie',
};

type JsonSchema = Record<string, unknown> & { properties?: Record<string, Record<string, unknown>>; required?: string[] };

/** JSON Schema of what a request may send (the input side of transforms such as trim). */
function jsonSchema(schema: Schema): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

const pathParams = (path: string): string[] => [...path.matchAll(/\{([a-z]+)\}/g)].map((m) => m[1] as string);

function operation(r: RouteSpec, doc: OperationDoc): Record<string, unknown> {
  const parameters: Record<string, unknown>[] = pathParams(r.path).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
  if (doc.query) {
    const q = jsonSchema(doc.query);
    for (const [name, schema] of Object.entries(q.properties ?? {})) parameters.push({ name, in: 'query', required: (q.required ?? []).includes(name), schema });
  }
  if (doc.tag === 'site protocol') {
    for (const name of ['X-Vault-Siteid', 'X-Vault-Siteurl']) parameters.push({ name, in: 'header', required: false, schema: { type: 'string' } });
  }
  const ok = doc.produces
    ? { description: 'OK', content: { [doc.produces]: { schema: { type: 'string' } } } }
    : { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } };
  return {
    operationId: `${r.method.toLowerCase()}${r.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ?? '').toUpperCase())}` || 'root',
    summary: doc.summary,
    tags: [doc.tag],
    security: SECURITY[doc.auth],
    ...(parameters.length ? { parameters } : {}),
    ...(doc.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(doc.body) } } } } : {}),
    responses: { 200: ok, default: { $ref: '#/components/responses/Error' } },
    'x-lambda-function': r.fn,
  };
}

let cached: Record<string, unknown> | undefined;

/** The OpenAPI 3.1 document of ROUTES. */
export function openApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const doc = OPERATIONS[`${r.method} ${r.path}`];
    if (!doc) throw new Error(`openapi: ${r.method} ${r.path} is not documented in OPERATIONS`);
    (paths[r.path] ??= {})[r.method.toLowerCase()] = operation(r, doc);
  }
  cached = {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Vault Cloud API', version: '1',
      description: 'The tool_vault site protocol, the account API, e-mail sign-in and the dashboard API (docs/api.md, docs/web.md). Every error answers {"message"}.',
    },
    tags: ['site protocol', 'account', 'sign-in', 'dashboard', 'pages'].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
        signinToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: '15-minute token from POST /signin/verify' },
        session: { type: 'apiKey', in: 'cookie', name: 'vault_session', description: 'HttpOnly, SameSite=Strict; state changes need Content-Type: application/json' },
      },
      responses: {
        Error: {
          description: 'Any error', content: { 'application/json': { schema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'], additionalProperties: false } } },
        },
      },
    },
  };
  return cached;
}

/** One schema as compact text for the page: `name: type (constraints)` lines. */
function schemaRows(schema: JsonSchema): string {
  const props = Object.entries(schema.properties ?? {});
  if (!props.length) return '';
  const required = new Set(schema.required ?? []);
  const rows = props.map(([name, s]) => {
    const { type, description: _d, ...rest } = s;
    const kind = typeof type === 'string' ? type : Array.isArray(type) ? type.join(' | ') : 'any';
    const extra = Object.keys(rest).length ? JSON.stringify(rest) : '';
    return `<tr><th scope="row"><code>${esc(name)}</code></th><td>${esc(kind)}${required.has(name) ? ', required' : ''}</td><td><code>${esc(extra)}</code></td></tr>`;
  }).join('');
  return `<table class="plans"><thead><tr><th scope="col">Field</th><th scope="col">Type</th><th scope="col">Schema</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function referencePage(): string {
  const sections = ROUTES.map((r) => {
    const doc = OPERATIONS[`${r.method} ${r.path}`];
    if (!doc) return '';
    const body = doc.body ? `<p>Body (JSON):</p>${schemaRows(jsonSchema(doc.body))}` : '';
    const query = doc.query ? `<p>Query:</p>${schemaRows(jsonSchema(doc.query))}` : '';
    return `<section class="op"><h3><code>${esc(r.method)} ${esc(r.path)}</code></h3><p>${esc(doc.summary)}. Authentication: ${esc(AUTH_TEXT[doc.auth])}.</p>${query}${body}</section>`;
  }).join('\n');
  return layout('Vault Cloud: API reference', `<main class="box wide">
<header><h1>Vault Cloud</h1><p class="site">API reference</p></header>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Success is HTTP 200 with a JSON object; every error is <code>{"message": "…"}</code>.</p>
${sections}
<footer><a href="/plans">Plans</a> <a href="/faq">Questions</a></footer>
</main>`);
}

/** `GET /openapi.json` and `GET /api`. */
export function openApiRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/openapi.json', (c) => c.json(openApiDocument()));
  app.get('/api', pageHeaders(false), (c) => c.html(referencePage()));
  return app;
}
