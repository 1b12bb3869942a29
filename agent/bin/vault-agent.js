#!/usr/bin/env node
// Runs the built agent (dist/vault-agent.mjs, from `npm run build -w agent`) when it is newer than
// every source file; otherwise the TypeScript source through tsx's loader, so a development
// checkout never runs stale code. VAULT_AGENT_DEV=1 forces the source.
import { readdirSync, statSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/vault-agent.mjs', import.meta.url));
const src = fileURLToPath(new URL('../src', import.meta.url));

function newestMtime(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function bundleIsFresh() {
  try {
    const built = statSync(bundle).mtimeMs;
    try {
      return built >= newestMtime(src);
    } catch {
      return true; // an installed package without sources
    }
  } catch {
    return false;
  }
}

if (process.env.VAULT_AGENT_DEV !== '1' && bundleIsFresh()) {
  await import(bundle);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  // As in the bundle (agent/scripts/build.ts): the heap is tuned before the agent's modules load.
  const { tuneHeapForStreaming } = await import('../src/db/heap.ts');
  tuneHeapForStreaming();
  const { main } = await import('../src/cli.ts');
  process.exitCode = await main(process.argv);
}
