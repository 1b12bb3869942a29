/**
 * Command line of the agent's measuring harnesses (scale-s.ts, scale-site.ts):
 * `serve|measure <dir> [arg3] [arg4]`, and the agent bundle they measure.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface HarnessArgs {
  mode: 'serve' | 'measure';
  dir: string;
  a3: string | undefined;
  a4: string | undefined;
  /** VAULT_AGENT_BUNDLE when given (an already built agent, e.g. of another checkout). */
  given: string | undefined;
  /** The bundle to run: `given`, or this checkout's agent built under node_modules/.cache. */
  bundle: string;
}

/** Parses `process.argv`; exits with the usage line when it does not fit. */
export function harnessArgs(script: string, bundleName: string): HarnessArgs {
  const [mode, dirArg, a3, a4] = process.argv.slice(2);
  if (!dirArg || (mode !== 'serve' && mode !== 'measure')) {
    process.stderr.write(`usage: ${script} serve|measure <dir> ...\n`);
    process.exit(2);
  }
  const given = process.env.VAULT_AGENT_BUNDLE;
  const bundle = given ?? fileURLToPath(new URL(`../../node_modules/.cache/vault-agent-scale/${bundleName}`, import.meta.url));
  return { mode, dir: resolve(dirArg), a3, a4, given, bundle };
}

/** What a measured run gives (bench/measure.ts). */
interface Measured { wallMs: number; cpuMs: number; peakRssBytes: number }

/**
 * Runs the `wanted` steps (comma list; `fallback` when not given) `rounds` times in order: each
 * step's `before`, then `run`, whose measurement is printed as one line.
 */
export async function runSteps<S extends { before?: () => Promise<unknown> }>(
  steps: Record<string, S>, wanted: string | undefined, fallback: string, rounds: string | undefined,
  run: (id: string, step: S) => Promise<Measured>,
): Promise<void> {
  const ids = (wanted ?? fallback).split(',');
  for (let r = 0; r < Number(rounds ?? 1); r++) {
    for (const id of ids) {
      const step = steps[id];
      if (!step) throw new Error(`unknown step ${id}`);
      await step.before?.();
      const m = await run(id, step);
      process.stdout.write(`${id.padEnd(14)} wall ${(m.wallMs / 1000).toFixed(2)} s  CPU ${(m.cpuMs / 1000).toFixed(2)} s  peak RSS ${(m.peakRssBytes / 2 ** 20).toFixed(1)} MiB\n`);
    }
  }
}
