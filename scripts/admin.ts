/**
 * Operator CLI: `npm run admin -- <command>`. Talks to the DynamoDB table directly through the
 * repository (no admin route exists on the public API): locally to the DynamoDB Local of a running
 * `npm start` (found in `<VAULT_DATA_DIR>/endpoints.json`), on AWS with the operator's own
 * credentials (`--aws`, the SDK's default credential chain). Run `npm run admin -- help`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import * as z from 'zod/mini';
import { apiKeyHint, generateApiKey, hashApiKey, SCOPES } from '../lambdas/domain/api-keys.js';
import { ApiError } from '../lambdas/domain/errors.js';
import { newAccountId, newKeyId } from '../lambdas/domain/ids.js';
import { DEFAULT_PLAN, isPlanId, PLANS, type PlanId } from '../lambdas/domain/plans.js';
import { createDocumentClient } from '../lambdas/store/dynamodb-client.js';
import type { AccountRecord, ApiKeyRecord, UsageRecord } from '../lambdas/store/records.js';
import { createRepository, usageMonth, type Repository } from '../lambdas/store/repository.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Where the CLI writes: injectable so tests capture the output. */
export interface AdminIo {
  out(line: string): void;
  err(line: string): void;
}

/** How to reach the table. */
export interface Connection {
  /** DynamoDB endpoint (DynamoDB Local); undefined = AWS. */
  endpoint?: string;
  table: string;
  region: string;
}

/**
 * The DynamoDB actions the commands need, by resource (docs/deploy.md's operator policy; checked
 * against the commands a run sends by test/api/operator.test.ts). Transactions are authorised
 * per item, as the item's own action.
 */
export const ADMIN_TABLE_ACCESS = {
  /** Account and key reads, `create-account` (puts), plan and suspension updates, per-account queries. */
  table: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
  /** The account listing (`list`, `usage` of every account). */
  gsi1: ['dynamodb:Query'],
} as const;

/** Opens the repository for a connection (tests pass one over a recording client). */
export type RepositoryOpener = (conn: Connection) => { repo: Repository; close: () => void };

/** A failure the operator caused (bad arguments, unknown account): message, exit code 1 or 2. */
class AdminError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** What `npm start` writes so that tools find its stores (lambdas/local/start.ts). */
export const ENDPOINTS_FILE = 'endpoints.json';

const HELP = `Usage: npm run admin -- <command> [options]

Commands:
  create-account --email E [--plan P]     create an account and its first key (all scopes);
                                          prints "<apikey> <accountid>"
  set-plan <account|email> <plan>         change the plan (${Object.keys(PLANS).join(', ')})
  find <email>                            show one account
  list [--plan P] [--suspended|--active]  list accounts, oldest first
  suspend <account|email> [--reason R]    refuse every call of the account's keys (403)
  resume <account|email>                  lift a suspension
  usage [<account|email>] [--month YYYY-MM]
                                          metered usage: one account by month, or every account in
                                          one month (default: the current UTC month)

Connection (default: the DynamoDB Local of a running \`npm start\`, from $VAULT_DATA_DIR/${ENDPOINTS_FILE}):
  --endpoint URL   DynamoDB endpoint (or DYNAMODB_ENDPOINT / DDB_ENDPOINT)
  --table NAME     table (or TABLE_NAME; default: npm start's, "vault-data" with --aws)
  --region R       AWS region (or AWS_REGION; default eu-central-1 with --aws)
  --aws            the deployed table, with the default AWS credential chain (AWS_PROFILE, ...)
  --json           machine-readable output (one JSON document)
`;

const email = z.string().check(z.maxLength(254), z.trim(), z.toLowerCase(), z.email());
const monthArg = z.string().check(z.regex(/^[0-9]{4}-(0[1-9]|1[0-2])$/, 'must be YYYY-MM'));
const accountIdArg = /^a[0-9a-z]{19}$/;

const CONNECTION_OPTIONS = {
  endpoint: { type: 'string' },
  table: { type: 'string' },
  region: { type: 'string' },
  aws: { type: 'boolean' },
  json: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

/** Options each command accepts besides the connection ones. */
const COMMAND_OPTIONS = {
  'create-account': { email: { type: 'string' }, plan: { type: 'string' } },
  'set-plan': {},
  find: {},
  list: { plan: { type: 'string' }, suspended: { type: 'boolean' }, active: { type: 'boolean' } },
  suspend: { reason: { type: 'string' } },
  resume: {},
  usage: { month: { type: 'string' } },
} as const satisfies Record<string, ParseArgsConfig['options']>;
type Command = keyof typeof COMMAND_OPTIONS;

/** Parsed flags: strings and booleans by name. */
type Flags = Record<string, string | boolean | undefined>;

/**
 * The table to use: flags, then the environment, then the `endpoints.json` of `npm start`;
 * `--aws` skips the local file and means the deployed table with the default credential chain.
 */
export function resolveConnection(flags: Flags, env: NodeJS.ProcessEnv): Connection {
  const str = (v: string | boolean | undefined) => (typeof v === 'string' && v !== '' ? v : undefined);
  let endpoint = str(flags.endpoint) ?? str(env.DYNAMODB_ENDPOINT) ?? str(env.DDB_ENDPOINT);
  let localTable: string | undefined;
  if (!endpoint && !flags.aws) {
    const file = resolve(env.VAULT_DATA_DIR ?? '.vault-data', ENDPOINTS_FILE);
    let local: { dynamodb?: unknown; table?: unknown };
    try {
      local = JSON.parse(readFileSync(file, 'utf8')) as { dynamodb?: unknown; table?: unknown };
    } catch {
      throw new AdminError(`No local stores found (${file} is missing: is \`npm start\` running?). Give --endpoint, or --aws for the deployed table.`, 2);
    }
    if (typeof local.dynamodb !== 'string') throw new AdminError(`${file} names no DynamoDB endpoint`, 2);
    endpoint = local.dynamodb;
    localTable = typeof local.table === 'string' ? local.table : undefined;
  }
  const table = str(flags.table) ?? str(env.TABLE_NAME) ?? localTable ?? (endpoint ? 'vault' : 'vault-data');
  const region = str(flags.region) ?? str(env.AWS_REGION) ?? str(env.AWS_DEFAULT_REGION) ?? (endpoint ? 'us-east-1' : 'eu-central-1');
  return { ...(endpoint ? { endpoint } : {}), table, region };
}

/** The repository over `conn`; DynamoDB Local gets dummy credentials, AWS the default chain. */
export const openRepository: RepositoryOpener = (conn) => {
  const local = conn.endpoint !== undefined && /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:|\/|$)/.test(conn.endpoint);
  const ddb = createDocumentClient({
    region: conn.region, endpoint: conn.endpoint,
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
  return { repo: createRepository(ddb, conn.table), close: () => ddb.destroy() };
};

function parseWith<T>(schema: z.ZodMiniType<T>, value: unknown, what: string): T {
  const res = schema.safeParse(value);
  if (!res.success) throw new AdminError(`Invalid ${what}: ${res.error.issues[0]?.message ?? 'malformed'}`, 2);
  return res.data;
}

function planArg(value: string | boolean | undefined, fallback?: PlanId): PlanId {
  if (value === undefined && fallback) return fallback;
  if (typeof value !== 'string' || !isPlanId(value)) throw new AdminError(`Unknown plan "${String(value ?? '')}" (plans: ${Object.keys(PLANS).join(', ')})`, 2);
  return value;
}

/** The account named by id or e-mail address. */
async function findAccount(repo: Repository, ref: string | undefined): Promise<AccountRecord> {
  if (!ref) throw new AdminError('Name the account: its id (a...) or e-mail address', 2);
  let accountId: string | undefined = ref;
  if (ref.includes('@')) accountId = await repo.findAccountByEmail(parseWith(email, ref, 'e-mail address'));
  else if (!accountIdArg.test(ref)) throw new AdminError(`"${ref}" is neither an account id (a + 19 characters) nor an e-mail address`, 2);
  const account = accountId ? await repo.getAccount(accountId) : undefined;
  if (!account) throw new AdminError(`No account ${ref}`);
  return account;
}

const iso = (t: number | undefined) => (t === undefined ? '' : new Date(t * 1000).toISOString().replace('.000Z', 'Z'));
const status = (a: AccountRecord) => (a.suspendedAt === undefined ? 'active' : `suspended since ${iso(a.suspendedAt)}: ${a.suspendedReason ?? ''}`);

/** Rows as aligned columns. */
function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}

/** An account as printed by `find`/`list --json`. */
function accountJson(a: AccountRecord): Record<string, unknown> {
  return {
    accountid: a.accountId, email: a.email, plan: a.plan, verified: a.verified, created: iso(a.createdAt),
    suspended: a.suspendedAt !== undefined, ...(a.suspendedAt !== undefined ? { suspendedat: iso(a.suspendedAt), reason: a.suspendedReason ?? '' } : {}),
  };
}

/** Usage rows with the stored bytes at each month's end (uploaded − deleted since metering began). */
function withStored(months: UsageRecord[]): (UsageRecord & { storedBytes: number })[] {
  let stored = 0;
  return months.map((u) => ({ ...u, storedBytes: (stored += u.uploadedBytes - u.deletedBytes) }));
}

const USAGE_HEADER = ['requests', 'backups', 'restores', 'dryruns', 'uploaded', 'deleted', 'stored'];
const usageCells = (u: UsageRecord & { storedBytes: number }) =>
  [u.requests, u.backups, u.restores, u.dryruns, u.uploadedBytes, u.deletedBytes, u.storedBytes].map(String);

async function run(command: Command, positionals: string[], flags: Flags, repo: Repository, io: AdminIo, now: number): Promise<void> {
  const json = flags.json === true;
  const print = (value: unknown, lines: () => string[]) => {
    if (json) io.out(JSON.stringify(value, null, 2));
    else for (const l of lines()) io.out(l);
  };
  const noMore = (n: number) => {
    if (positionals.length > n) throw new AdminError(`Unexpected argument "${positionals[n] ?? ''}"`, 2);
  };
  switch (command) {
    case 'create-account': {
      noMore(0);
      const address = parseWith(email, flags.email, '--email');
      const plan = planArg(flags.plan, DEFAULT_PLAN);
      const accountId = newAccountId();
      const apikey = generateApiKey();
      const key: ApiKeyRecord = { keyId: newKeyId(), accountId, name: 'default', scopes: [...SCOPES], hint: apiKeyHint(apikey), createdAt: now };
      await repo.createAccount({ accountId, email: address, plan, verified: false, createdAt: now }, key, hashApiKey(apikey));
      // Exactly "<apikey> <accountid>" (also with --json off) so that scripts can read it.
      print({ apikey, accountid: accountId, keyid: key.keyId, plan }, () => [`${apikey} ${accountId}`]);
      return;
    }
    case 'set-plan': {
      noMore(2);
      const account = await findAccount(repo, positionals[0]);
      const plan = planArg(positionals[1]);
      await repo.setAccountPlan(account.accountId, plan);
      print({ accountid: account.accountId, plan, previous: account.plan }, () => [`${account.accountId} ${account.email}: plan ${account.plan} → ${plan}`]);
      return;
    }
    case 'find': {
      noMore(1);
      if (!positionals[0]?.includes('@')) throw new AdminError('find takes an e-mail address (other commands also take an account id)', 2);
      const account = await findAccount(repo, positionals[0]);
      const keys = await repo.listApiKeys(account.accountId);
      print({ ...accountJson(account), keys: keys.map((k) => ({ keyid: k.keyId, name: k.name, scopes: k.scopes, hint: k.hint, created: iso(k.createdAt) })) }, () => [
        ...table([
          ['accountid', account.accountId], ['email', account.email], ['plan', account.plan], ['verified', account.verified ? 'yes' : 'no'],
          ['created', iso(account.createdAt)], ['status', status(account)], ['keys', String(keys.length)],
        ]),
        ...keys.map((k) => `  ${k.keyId}  ${k.hint}  ${k.scopes.join(',')}  ${k.name}`),
      ]);
      return;
    }
    case 'list': {
      noMore(0);
      if (flags.suspended && flags.active) throw new AdminError('--suspended and --active exclude each other', 2);
      const accounts = await repo.listAccounts({
        ...(flags.plan !== undefined ? { plan: planArg(flags.plan) } : {}),
        ...(flags.suspended ? { suspended: true } : flags.active ? { suspended: false } : {}),
      });
      print(accounts.map(accountJson), () => [
        ...table([['accountid', 'email', 'plan', 'created', 'status'], ...accounts.map((a) => [a.accountId, a.email, a.plan, iso(a.createdAt), status(a)])]),
        `${accounts.length} account${accounts.length === 1 ? '' : 's'}`,
      ]);
      return;
    }
    case 'suspend': {
      noMore(1);
      const account = await findAccount(repo, positionals[0]);
      const reason = typeof flags.reason === 'string' && flags.reason.trim() ? flags.reason.trim().slice(0, 500) : 'no reason given';
      await repo.suspendAccount(account.accountId, reason, now);
      print({ accountid: account.accountId, suspended: true, reason }, () => [`${account.accountId} ${account.email}: suspended (${reason})`]);
      return;
    }
    case 'resume': {
      noMore(1);
      const account = await findAccount(repo, positionals[0]);
      await repo.resumeAccount(account.accountId);
      print({ accountid: account.accountId, suspended: false }, () => [`${account.accountId} ${account.email}: active`]);
      return;
    }
    case 'usage': {
      noMore(1);
      const month = flags.month === undefined ? undefined : parseWith(monthArg, flags.month, '--month');
      if (positionals[0]) {
        const account = await findAccount(repo, positionals[0]);
        const rows = withStored(await repo.usage(account.accountId)).filter((u) => month === undefined || u.month === month);
        print({ accountid: account.accountId, email: account.email, months: rows }, () => [
          `${account.accountId} ${account.email} (${account.plan})`,
          ...table([['month', ...USAGE_HEADER], ...rows.map((u) => [u.month, ...usageCells(u)])]),
        ]);
        return;
      }
      const wanted = month ?? usageMonth(now);
      const rows: { account: AccountRecord; usage: UsageRecord & { storedBytes: number } }[] = [];
      for (const account of await repo.listAccounts()) {
        // Stored bytes at the month's end need every month up to it.
        const upTo = withStored((await repo.usage(account.accountId)).filter((u) => u.month <= wanted));
        const last = upTo.at(-1);
        const usage = last?.month === wanted ? last : { month: wanted, requests: 0, backups: 0, restores: 0, dryruns: 0, uploadedBytes: 0, deletedBytes: 0, storedBytes: last?.storedBytes ?? 0 };
        rows.push({ account, usage });
      }
      print({ month: wanted, accounts: rows.map((r) => ({ accountid: r.account.accountId, email: r.account.email, plan: r.account.plan, ...r.usage })) }, () => [
        `usage in ${wanted} (bytes; stored = at the month's end)`,
        ...table([['accountid', 'email', 'plan', ...USAGE_HEADER], ...rows.map((r) => [r.account.accountId, r.account.email, r.account.plan, ...usageCells(r.usage)])]),
      ]);
      return;
    }
  }
}

/** Runs one CLI invocation; returns the exit code (0 ok, 1 failed, 2 usage error). */
export async function runAdmin(
  argv: string[], io: AdminIo, env: NodeJS.ProcessEnv = process.env, now = Math.floor(Date.now() / 1000), open: RepositoryOpener = openRepository,
): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    for (const l of HELP.trimEnd().split('\n')) (command ? io.out : io.err)(l);
    return command ? 0 : 2;
  }
  if (!Object.hasOwn(COMMAND_OPTIONS, command)) {
    io.err(`Unknown command "${command}". Run: npm run admin -- help`);
    return 2;
  }
  const cmd = command as Command;
  let closer: (() => void) | undefined;
  try {
    let parsed: { values: Flags; positionals: string[] };
    try {
      const options: NonNullable<ParseArgsConfig['options']> = { ...CONNECTION_OPTIONS, ...COMMAND_OPTIONS[cmd] };
      const res = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
      // No option is `multiple`: every value is a string or a boolean.
      parsed = { values: res.values as Flags, positionals: res.positionals };
    } catch (err) {
      throw new AdminError(err instanceof Error ? err.message : String(err), 2);
    }
    const conn = resolveConnection(parsed.values, env);
    const opened = open(conn);
    closer = opened.close;
    await run(cmd, parsed.positionals, parsed.values, opened.repo, io, now);
    return 0;
  } catch (err) {
    if (err instanceof AdminError) {
      io.err(err.message);
      return err.exitCode;
    }
    if (err instanceof ApiError) {
      io.err(err.message);
      return 1;
    }
    const e = err instanceof Error ? err : new Error(String(err));
    io.err(`${e.name}: ${e.message}`);
    if (/ECONNREFUSED|fetch failed|connect/i.test(`${e.message} ${String(e.cause ?? '')}`)) io.err('Is DynamoDB reachable (npm start running, --endpoint right)?');
    return 1;
  } finally {
    closer?.();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const code = await runAdmin(process.argv.slice(2), {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
  });
  process.exitCode = code;
}
