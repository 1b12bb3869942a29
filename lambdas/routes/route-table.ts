/**
 * Every HTTP route of the API and the Lambda function that serves it. The CDK stack wires API
 * Gateway from this list and a test checks that the Hono app answers each of them, so the two
 * cannot drift apart. Paths use API Gateway syntax (`{name}`).
 */
export type FunctionName = 'account' | 'site';

/** One route: method, API Gateway path, serving function. */
export interface RouteSpec {
  method: 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  fn: FunctionName;
  /** Serves a web page or one of its files (HTML, script, icon) rather than the JSON API. */
  page?: true;
}

/** All routes of the API. */
export const ROUTES: readonly RouteSpec[] = [
  // site protocol (tool_vault), spec §4
  { method: 'GET', path: '/validateapikey', fn: 'site' },
  { method: 'PUT', path: '/backups', fn: 'site' },
  { method: 'GET', path: '/backups', fn: 'site' },
  { method: 'GET', path: '/backups/{backupkey}', fn: 'site' },
  { method: 'PATCH', path: '/backups/{backupkey}', fn: 'site' },
  { method: 'POST', path: '/backups/{backupkey}/upload/{filename}', fn: 'site' },
  { method: 'POST', path: '/backups/{backupkey}/uploadcompleted/{filename}', fn: 'site' },
  { method: 'GET', path: '/backups/{backupkey}/validate', fn: 'site' },
  { method: 'PUT', path: '/restores', fn: 'site' },
  { method: 'PATCH', path: '/restores/{restorekey}', fn: 'site' },
  { method: 'GET', path: '/restores/{restorekey}/download/{filename}', fn: 'site' },
  { method: 'POST', path: '/reporterror', fn: 'site' },
  { method: 'GET', path: '/health', fn: 'site' },
  // account API route that deletes objects in S3: served by the site function (S3 access)
  { method: 'DELETE', path: '/account/backups/{backupkey}', fn: 'site' },
  // account API
  { method: 'POST', path: '/account/register', fn: 'account' },
  { method: 'GET', path: '/account/verify', fn: 'account' },
  { method: 'GET', path: '/account', fn: 'account' },
  { method: 'GET', path: '/account/backups', fn: 'account' },
  { method: 'GET', path: '/account/keys', fn: 'account' },
  { method: 'POST', path: '/account/keys', fn: 'account' },
  { method: 'DELETE', path: '/account/keys/{keyid}', fn: 'account' },
  // e-mail one-time-code sign-in (routes/signin.ts)
  { method: 'POST', path: '/signin/code', fn: 'account' },
  { method: 'POST', path: '/signin/verify', fn: 'account' },
  { method: 'POST', path: '/signin/apikey', fn: 'account' },
  // dashboard session and its cookie-authenticated API (web/dashboard.ts, docs/web.md)
  { method: 'POST', path: '/signin/session', fn: 'account' },
  { method: 'POST', path: '/signout', fn: 'account' },
  { method: 'POST', path: '/signout/everywhere', fn: 'account' },
  { method: 'GET', path: '/dashboard/api/account', fn: 'account' },
  { method: 'GET', path: '/dashboard/api/backups', fn: 'account' },
  { method: 'GET', path: '/dashboard/api/backups/{backupkey}', fn: 'account' },
  // on AWS deletes the record only (the account function has no S3 rights): the ops job deletes the objects
  { method: 'DELETE', path: '/dashboard/api/backups/{backupkey}', fn: 'account' },
  { method: 'GET', path: '/dashboard/api/restores', fn: 'account' },
  { method: 'GET', path: '/dashboard/api/keys', fn: 'account' },
  { method: 'POST', path: '/dashboard/api/keys', fn: 'account' },
  { method: 'DELETE', path: '/dashboard/api/keys/{keyid}', fn: 'account' },
  // web pages, their static files embedded in the account bundle (web/assets.ts, infra/bundling.ts)
  { method: 'GET', path: '/', fn: 'account', page: true },
  { method: 'GET', path: '/plans', fn: 'account', page: true },
  { method: 'GET', path: '/faq', fn: 'account', page: true },
  { method: 'GET', path: '/getapikey', fn: 'account', page: true },
  { method: 'GET', path: '/dashboard', fn: 'account', page: true },
  { method: 'GET', path: '/web/{name}', fn: 'account', page: true },
  { method: 'GET', path: '/favicon.ico', fn: 'account', page: true },
  { method: 'GET', path: '/openapi.json', fn: 'account' },
  { method: 'GET', path: '/api', fn: 'account', page: true },
];

/** Paths of the routes that serve web pages and their files rather than the JSON API. */
export const WEB_PAGE_PATHS: ReadonlySet<string> = new Set(ROUTES.filter((r) => r.page).map((r) => r.path));
