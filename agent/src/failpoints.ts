/**
 * Named failpoints: places in long operations where the crash tests stop the real process
 * (`kill -9` of itself), inject an error, or pause until the test has changed the world (filled
 * a disk). Off unless `VAULT_AGENT_FAILPOINTS` is set, e.g.
 *
 *   VAULT_AGENT_FAILPOINTS="restore.switch.before=kill"      kill -9 at the first hit
 *   VAULT_AGENT_FAILPOINTS="restore.load.table@40=kill"      at the 40th hit
 *   VAULT_AGENT_FAILPOINTS="restore.load.table=error"        throw FailpointError (exit code 1)
 *   VAULT_AGENT_FAILPOINTS="restore.files.extract=pause"     write <dir>/<name>.paused, wait until removed
 *
 * Several are separated by commas. `pause` uses `VAULT_AGENT_FAILPOINT_DIR` (default: the
 * process's working directory). Hits of every configured name are counted per process.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Action taken when a failpoint fires. */
export type FailpointAction = 'kill' | 'error' | 'pause';

/** Error thrown by a failpoint with action `error`. */
export class FailpointError extends Error {
  readonly code = 'ERR_FAILPOINT';
  constructor(readonly point: string) {
    super(`failpoint ${point}: injected failure`);
  }
}

interface Rule {
  action: FailpointAction;
  /** 1-based hit at which the rule fires. */
  at: number;
}

/** Parses `name[@N]=action,...`; throws on a malformed rule so a test cannot silently test nothing. */
export function parseFailpoints(spec: string): Map<string, Rule> {
  const rules = new Map<string, Rule>();
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z0-9_.-]+)(?:@(\d+))?=(kill|error|pause)$/.exec(part);
    if (!m) throw new Error(`VAULT_AGENT_FAILPOINTS: cannot read '${part}' (expected name[@N]=kill|error|pause)`);
    rules.set(m[1] as string, { action: m[3] as FailpointAction, at: Number(m[2] ?? 1) });
  }
  return rules;
}

let rules: Map<string, Rule> | undefined;
const hits = new Map<string, number>();

/** Fires the failpoint `name` if it is configured for this hit; a no-op otherwise. */
export async function failpoint(name: string): Promise<void> {
  rules ??= parseFailpoints(process.env.VAULT_AGENT_FAILPOINTS ?? '');
  if (rules.size === 0) return;
  const rule = rules.get(name);
  if (!rule) return;
  const n = (hits.get(name) ?? 0) + 1;
  hits.set(name, n);
  if (n !== rule.at) return;
  if (rule.action === 'kill') {
    process.kill(process.pid, 'SIGKILL');
    // SIGKILL is delivered asynchronously; never run past the point.
    await sleep(60_000);
  }
  if (rule.action === 'error') throw new FailpointError(name);
  const marker = join(process.env.VAULT_AGENT_FAILPOINT_DIR ?? process.cwd(), `${name}.paused`);
  await writeFile(marker, String(process.pid));
  while (existsSync(marker)) await sleep(50);
}
