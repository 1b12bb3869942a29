/**
 * The agent as a user would run it: agent/src/cli.ts bundled by esbuild into one ESM file run by
 * plain `node` (no tsx loader, no esbuild service process in the measured tree), with the malloc
 * settings of its launcher (agent/bin/vault-agent). Falls back to the development entry
 * (agent/bin/vault-agent.js, tsx loader) when bundling fails, and says so.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { buildAgent as buildAgentBundle } from '../agent/scripts/build.js';
import { AGENT_BIN, ROOT } from './context.js';

export interface AgentCommand {
  /** argv prefix: [env, <launcher's malloc settings>, node, <script>] — append the sub-command and its options. */
  argv: string[];
  mode: 'esbuild bundle' | 'tsx dev entry';
  note?: string;
}

export const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'vault-bench');

/** Bundle `entry` (a .ts file) with every dependency into `outfile` (ESM, node 20). */
export async function bundleNode(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
    // CommonJS dependencies (pg, mysql2, commander) call require() for node built-ins.
    banner: { js: "import { createRequire as __bench_cr } from 'node:module'; const require = __bench_cr(import.meta.url);" },
  });
}

const LAUNCHER = join(ROOT, 'agent', 'bin', 'vault-agent');

/**
 * `NAME=value` for each default the launcher sets (`: "${NAME:=value}"` lines), so the measured
 * agent runs as `vault-agent` does; the environment of the bench wins, as it would there.
 */
export function launcherEnv(): string[] {
  if (!existsSync(LAUNCHER)) return [];
  return [...readFileSync(LAUNCHER, 'utf8').matchAll(/^: "\$\{(\w+):=([^}]*)\}"$/gm)]
    .map((m) => `${m[1]}=${process.env[m[1] as string] || m[2]}`);
}

export async function buildAgent(): Promise<AgentCommand | undefined> {
  if (!existsSync(join(ROOT, 'agent', 'src', 'cli.ts'))) return undefined;
  mkdirSync(CACHE_DIR, { recursive: true });
  // /usr/bin/env execs node in its own process: the measured process is node's.
  const env = ['/usr/bin/env', ...launcherEnv()];
  try {
    const outfile = await buildAgentBundle(join(CACHE_DIR, 'vault-agent.mjs'));
    return { argv: [...env, process.execPath, outfile], mode: 'esbuild bundle' };
  } catch (err) {
    if (!existsSync(AGENT_BIN)) return undefined;
    return { argv: [...env, process.execPath, AGENT_BIN], mode: 'tsx dev entry', note: `esbuild bundle failed (${(err as Error).message.split('\n')[0] ?? ''}); measured through the tsx dev entry` };
  }
}
