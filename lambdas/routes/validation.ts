/**
 * Request parsing with zod/mini: every body, path parameter, query and header goes through a
 * schema; any failure becomes a 400 `{"message"}` naming the field.
 *
 * Schemas of more than a primitive are declared `z.lazy(() => ...)` here and in the route modules:
 * built on their first use instead of at module load (building them all took a tenth of a Lambda
 * function's cold start), and a cold start's first request builds only the ones it parses with.
 */
import * as z from 'zod/mini';
import type { Context } from 'hono';
import { BadRequestError } from '../domain/errors.js';
import { isArchiveName } from '../domain/archive-names.js';
import { RECORD_KEY_PATTERN } from '../domain/ids.js';

/** Parses `value` or throws a `BadRequestError` describing the first problem. */
export function parseWith<T>(schema: z.ZodMiniType<T>, value: unknown, what: string): T {
  const res = schema.safeParse(value);
  if (res.success) return res.data;
  const issue = res.error.issues[0];
  const path = issue?.path.length ? ` (${issue.path.join('.')})` : '';
  throw new BadRequestError(`Invalid ${what}${path}: ${issue?.message ?? 'malformed'}`);
}

/** The JSON body of the request parsed with `schema`; an empty or non-JSON body is a 400. */
export async function parseJsonBody<T>(c: Context, schema: z.ZodMiniType<T>): Promise<T> {
  const text = await c.req.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BadRequestError('The request body must be a JSON object');
  }
  return parseWith(schema, json, 'request body');
}

/** Backup or restore key in a path. */
export const recordKey = z.string().check(z.regex(RECORD_KEY_PATTERN, 'must be 1-64 characters [A-Za-z0-9]'));
/** Archive file name in a path. */
export const archiveName = z.string().check(z.refine(isArchiveName, 'not an archive name (dbstructure.zip, dbdump[-N].zip, dataroot[-N].zip, filedir[-N].zip)'));

/** A path parameter checked with `schema`. */
export function param<T>(c: Context, name: string, schema: z.ZodMiniType<T>): T {
  return parseWith(schema, c.req.param(name), `path parameter ${name}`);
}

const siteHeaders = z.lazy(() => z.object({
  siteid: z.string().check(z.maxLength(100), z.regex(/^[A-Za-z0-9_-]*$/)),
  siteurl: z.string().check(z.maxLength(2048), z.refine((v) => ![...v].some((ch) => ch.charCodeAt(0) < 32 || ch.charCodeAt(0) === 127), 'control characters')),
}));

/** `X-Vault-Siteid` and `X-Vault-Siteurl` (optional; empty when absent). */
export function siteHeadersOf(c: Context): { siteId: string; siteUrl: string } {
  const h = parseWith(siteHeaders, { siteid: c.req.header('x-vault-siteid') ?? '', siteurl: c.req.header('x-vault-siteurl') ?? '' }, 'header');
  return { siteId: h.siteid, siteUrl: h.siteurl };
}

const fewKeys = (max: number) => z.refine((o: unknown) => typeof o === 'object' && o !== null && Object.keys(o).length <= max, `at most ${max} keys`);

/**
 * The one schema of every number the API accepts into a record: a safe integer. DynamoDB cannot
 * store `1e308`, and reads numbers beyond 2^53 back as errors; the plugin sends only integers.
 */
export const storedNumber = z.int();

/** A key of a stored map (`vaultenv`, `info`): DynamoDB refuses empty attribute names, also inside maps. */
const mapKey = z.string().check(z.minLength(1, 'empty key'), z.maxLength(64));

/** `vaultenv` as the plugin sends it: small flat object. */
export const vaultEnv = z.lazy(() => z.optional(z.record(mapKey, z.union([z.string().check(z.maxLength(1000)), storedNumber, z.boolean(), z.null()])).check(fewKeys(32))));
/** `vaultversion`: plugin version number, as string (or number from odd clients). */
export const vaultVersion = z.lazy(() => z.optional(z.union([z.string().check(z.maxLength(40)), storedNumber])));
/** Scalar `info` values a PATCH may merge (strings capped later). */
export const infoObject = z.lazy(() => z.optional(z.record(mapKey, z.union([z.string(), storedNumber, z.boolean(), z.null()])).check(fewKeys(32))));

/** Most `info` keys a record keeps across all PATCHes (bounds the DynamoDB item size). */
export const MAX_INFO_KEYS = 48;
