/**
 * Builds vault-agent into one ESM file, `agent/dist/vault-agent.mjs`, run by plain `node`: no
 * TypeScript loader at run time (the tsx loader alone costs ~110 MB RSS and ~0.5 s per start).
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const AGENT_DIR = fileURLToPath(new URL('..', import.meta.url));
export const AGENT_BUNDLE = `${AGENT_DIR}dist/vault-agent.mjs`;

/** Bundle agent/src/cli.ts with its dependencies into `outfile` (default {@link AGENT_BUNDLE}). */
export async function buildAgent(outfile: string = AGENT_BUNDLE): Promise<string> {
  await build({
    stdin: {
      // The heap is tuned before any other module is evaluated (see tuneHeapForStreaming).
      contents: "import { tuneHeapForStreaming } from './src/db/heap.ts';\ntuneHeapForStreaming();\nconst { main } = await import('./src/cli.ts');\nprocess.exitCode = await main(process.argv);\n",
      resolveDir: AGENT_DIR,
      sourcefile: 'vault-agent-entry.ts',
      loader: 'ts',
    },
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    // Whitespace and comments out, names kept (stack traces stay readable; the source map has
    // the lines): the bundle's text is a V8 heap string for the whole run, and the kept comments'
    // few non-ASCII characters made it a two-byte one (6.3 MB of heap instead of 2.4 MB).
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
    // yazl's CRC-32 in JavaScript → Node's native zlib.crc32 (agent/src/archive/native-crc32.ts).
    alias: { 'buffer-crc32': `${AGENT_DIR}src/archive/native-crc32.ts` },
    // CommonJS dependencies (pg, mysql2, commander) call require() for Node built-ins
    banner: { js: "import { createRequire as __vaultRequire } from 'node:module'; const require = __vaultRequire(import.meta.url);" },
  });
  return outfile;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildAgent();
  process.stdout.write(`built ${out}\n`);
}
