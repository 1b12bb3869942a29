/**
 * The static files of the web pages (lambdas/web/static/). Locally (`npm start`, tests) they are
 * read from disk; in a Lambda bundle this module is replaced by one holding their text
 * (infra/bundling.ts, `embedWebAssets`), because the bundle is a single file without the folder.
 */
import { readFileSync } from 'node:fs';

/** File name → Content-Type of every file served under `/web/`. */
export const WEB_ASSETS: Readonly<Record<string, string>> = {
  'getapikey.js': 'text/javascript; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

const cache = new Map<string, string>();

/** The text of `/web/<name>`, or undefined for a name that is not one of WEB_ASSETS. */
export function readAsset(name: string): string | undefined {
  if (!Object.hasOwn(WEB_ASSETS, name)) return undefined;
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(`./static/${name}`, import.meta.url), 'utf8');
    cache.set(name, text);
  }
  return text;
}
