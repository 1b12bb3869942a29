/**
 * The one set of esbuild options for the Lambda bundles, used by the CDK `NodejsFunction`s and by
 * `scripts/bundle-report.ts`, so the measured bundle is the deployed bundle.
 *
 * Lazily imported files (LAZY_FILES): a dynamic `import('./x.js')` of code only some requests need
 * (the S3 client of lazy-object-storage.ts, the STS and Secrets Manager code of the signing modes,
 * nodemailer and the SES client of the mailers, the web pages of web/lazy-pages.ts) is not inlined
 * but bundled on its own into `lazy/<x>.mjs` next to `index.mjs`, so a cold start neither parses
 * nor runs that code; the first call that needs it loads the file (scripts/bundle-report.ts times
 * one such call). A lazy file has its own copy of the code it shares with the handler (the SDK
 * core, say): only plain data, functions and errors recognised without `instanceof`
 * (domain/errors.ts) cross between the two, and no module state is shared. esbuild's own code
 * splitting was tried instead: it cuts the handler into a dozen static chunks (the SDK's internal
 * dynamic imports) and loses most of the gain.
 *
 * No dynamic import may stay inside `index.mjs` either: esbuild turns the target of one, and every
 * module it imports, into a function run on first use, and V8 then compiles that code twice (a
 * lazy pre-parse at load and a full compile when the function first runs): with the SDK's one
 * internal `import('@smithy/core/event-streams')` (event-stream operations, which no function
 * calls), about 270 SDK modules, a sixth of the handler's load time. `noInlineDynamicImports`
 * answers that import with a module that throws; the credential code imports its providers
 * statically (lambda-credentials.ts, presign.ts). `buildFunction` fails if one is left.
 *
 * CDK's esbuild call always writes one `--outfile`, so `cdkBundling` rebuilds the function with
 * `buildFunction` after it (`afterBundling`, running this file with `--split <outputDir>`).
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OutputFormat, SourceMapMode, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions, Plugin } from 'esbuild';
import { WEB_ASSETS } from '../lambdas/web/assets.js';

/** Lambda functions, one per concern; each is built from `lambdas/handlers/<name>.ts`. */
export const FUNCTION_NAMES = ['account', 'site', 'ops'] as const;
export type LambdaName = (typeof FUNCTION_NAMES)[number];

/** Absolute path of a function's entry point. */
export function entryOf(fn: LambdaName): string {
  return fileURLToPath(new URL(`../lambdas/handlers/${fn}.ts`, import.meta.url));
}

/** Repository root (where package-lock.json lives); the bundling project root. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * ESM needs `require` for the few CommonJS dependencies that load Node built-ins with it.
 * Kept on one line: esbuild's `--banner` is passed on a command line by CDK.
 */
export const ESM_REQUIRE_BANNER = "import { createRequire as __vaultCreateRequire } from 'node:module'; const require = __vaultCreateRequire(import.meta.url);";

/** Shared esbuild settings (in esbuild's own terms; see `cdkBundling` for CDK's). */
export const ESBUILD_SETTINGS = {
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  mainFields: ['module', 'main'],
  banner: ESM_REQUIRE_BANNER,
  /**
   * The AWS SDK is bundled (not taken from the runtime) so that the deployed code runs the SDK
   * version the tests ran, including `requestChecksumCalculation`; tree-shaking keeps it small.
   */
  external: [] as string[],
  /**
   * The SDK's default credential chain replaced by the environment alone (what Lambda provides):
   * see lambdas/store/lambda-credentials.ts. Relative to the project root, esbuild's working
   * directory both here and in CDK's local bundling.
   */
  alias: { '@aws-sdk/credential-provider-node': './lambdas/store/lambda-credentials.ts' } as Record<string, string>,
} as const;

/** Dynamic imports built as separate files: specifier → source (under the project root) and output file (under the function's directory). */
export const LAZY_FILES: Readonly<Record<string, { importer: string; entry: string; file: string }>> = {
  './object-storage.js': { importer: 'lambdas/store/lazy-object-storage.ts', entry: 'lambdas/store/object-storage.ts', file: 'lazy/object-storage.mjs' },
  './signing-sdk.js': { importer: 'lambdas/store/signing-credentials.ts', entry: 'lambdas/store/signing-sdk.ts', file: 'lazy/signing-sdk.mjs' },
  './smtp-transport.js': { importer: 'lambdas/mail/mailer.ts', entry: 'lambdas/mail/smtp-transport.ts', file: 'lazy/smtp-transport.mjs' },
  './ses-client.js': { importer: 'lambdas/mail/ses-mailer.ts', entry: 'lambdas/mail/ses-client.ts', file: 'lazy/ses-client.mjs' },
  './pages.js': { importer: 'lambdas/web/lazy-pages.ts', entry: 'lambdas/web/pages.ts', file: 'lazy/pages.mjs' },
};

/** SDK-internal dynamic imports of code no function uses, answered with a module that throws if it is ever run. */
const UNUSED_DYNAMIC_IMPORTS = ['@smithy/core/event-streams'];

/** Keeps dynamic imports out of a bundle file (see the module doc): the SDK's unused ones become a throwing stub. */
export const noInlineDynamicImports: Plugin = {
  name: 'vault-no-inline-dynamic-imports',
  setup(b) {
    b.onResolve({ filter: /^@/ }, (args) =>
      (args.kind === 'dynamic-import' && UNUSED_DYNAMIC_IMPORTS.includes(args.path) ? { path: args.path, namespace: 'vault-unused' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'vault-unused' }, (args) => ({
      loader: 'js',
      contents: `throw new Error(${JSON.stringify(`${args.path} is not in this bundle (infra/bundling.ts)`)});`,
    }));
  },
};

/**
 * Puts the web pages' static files (lambdas/web/static/) into the bundle: lambdas/web/assets.ts,
 * which reads them from disk, is replaced by a module holding their text (a Lambda bundle is one
 * file, without that folder). Same exports as the original.
 */
export const embedWebAssets: Plugin = {
  name: 'vault-web-assets',
  setup(b) {
    b.onLoad({ filter: /[\\/]lambdas[\\/]web[\\/]assets\.ts$/ }, () => {
      const text = Object.fromEntries(Object.keys(WEB_ASSETS).map((name) => [name, readFileSync(join(PROJECT_ROOT, 'lambdas/web/static', name), 'utf8')]));
      return {
        loader: 'js',
        contents: [
          `export const WEB_ASSETS = ${JSON.stringify(WEB_ASSETS)};`,
          `const TEXT = ${JSON.stringify(text)};`,
          'export function readAsset(name) { return Object.hasOwn(TEXT, name) ? TEXT[name] : undefined; }',
        ].join('\n'),
      };
    });
  },
};

/** esbuild options shared by a function's files (see ESBUILD_SETTINGS). */
function commonOptions(): BuildOptions {
  return {
    bundle: true,
    platform: ESBUILD_SETTINGS.platform,
    target: ESBUILD_SETTINGS.target,
    format: ESBUILD_SETTINGS.format,
    minify: ESBUILD_SETTINGS.minify,
    sourcemap: ESBUILD_SETTINGS.sourcemap,
    sourcesContent: ESBUILD_SETTINGS.sourcesContent,
    mainFields: [...ESBUILD_SETTINGS.mainFields],
    banner: { js: ESBUILD_SETTINGS.banner },
    external: [...ESBUILD_SETTINGS.external],
    alias: { ...ESBUILD_SETTINGS.alias },
    absWorkingDir: PROJECT_ROOT,
    logLevel: 'error',
  };
}

/**
 * Builds `fn` into `outDir`: `index.mjs` (the handler) and, for each LAZY_FILES import it reaches,
 * that file. Returns the paths of the code files written.
 */
export async function buildFunction(fn: LambdaName, outDir: string): Promise<string[]> {
  const { build } = await import('esbuild');
  const lazyFiles: Plugin = {
    name: 'vault-lazy-files',
    setup(b) {
      b.onResolve({ filter: /^\.\/[\w-]+\.js$/ }, (args) => {
        const lazy = LAZY_FILES[args.path];
        if (!lazy || args.kind !== 'dynamic-import' || !args.importer.replaceAll('\\', '/').endsWith(lazy.importer)) return undefined;
        return { path: `./${lazy.file}`, external: true };
      });
    },
  };
  const index = join(outDir, 'index.mjs');
  const files = [index];
  for (const file of await buildFile(build, entryOf(fn), index, [lazyFiles, embedWebAssets], true)) {
    // Only the lazy files the handler still imports after tree-shaking.
    const lazy = Object.values(LAZY_FILES).find((l) => `./${l.file}` === file);
    if (!lazy) continue;
    const outfile = join(outDir, lazy.file);
    const nested = await buildFile(build, join(PROJECT_ROOT, lazy.entry), outfile, [embedWebAssets], false);
    if (nested.length) throw new Error(`${lazy.entry}: a lazily loaded file may not import others lazily (${nested.join(', ')})`);
    files.push(outfile);
  }
  return files;
}

/**
 * Builds `entry` into `outfile` with `plugins` (and `noInlineDynamicImports`); returns the external
 * files it imports dynamically. `strict`: throw if a dynamic import would stay inside the file
 * (the handler's index.mjs; see the module doc).
 */
async function buildFile(build: typeof import('esbuild').build, entry: string, outfile: string, plugins: Plugin[], strict: boolean): Promise<string[]> {
  const result = await build({ ...commonOptions(), entryPoints: [entry], outfile, metafile: true, plugins: [...plugins, noInlineDynamicImports] });
  const output = Object.entries(result.metafile.outputs).find(([path]) => path.endsWith('.mjs'))?.[1];
  // Dynamic imports of the modules whose code is in the file (not of those tree-shaken away).
  const kept = Object.entries(output?.inputs ?? {}).filter(([, v]) => v.bytesInOutput > 0).map(([path]) => path);
  const inlined = kept.flatMap((path) => (result.metafile.inputs[path]?.imports ?? [])
    .filter((i) => i.kind === 'dynamic-import' && !i.external && !i.path.startsWith('vault-unused:')).map((i) => `${i.path} (from ${path})`));
  if (strict && inlined.length) throw new Error(`${entry}: dynamic imports inlined into ${outfile} (see infra/bundling.ts): ${inlined.join(', ')}`);
  return [...new Set((output?.imports ?? []).filter((i) => i.kind === 'dynamic-import' && i.external && i.path.startsWith('./')).map((i) => i.path))];
}

/**
 * Replaces CDK's single-file bundle in `outputDir` by `buildFunction`'s files. The function is the handler
 * file named in CDK's source map (exactly one `lambdas/handlers/<fn>.ts`).
 */
export async function splitBundle(outputDir: string): Promise<LambdaName> {
  const map = JSON.parse(readFileSync(join(outputDir, 'index.mjs.map'), 'utf8')) as { sources?: unknown };
  const sources = Array.isArray(map.sources) ? map.sources.filter((x): x is string => typeof x === 'string') : [];
  const fns = new Set(sources.flatMap((src) => FUNCTION_NAMES.filter((fn) => src.replaceAll('\\', '/').endsWith(`lambdas/handlers/${fn}.ts`))));
  const [fn, ...others] = [...fns];
  if (!fn || others.length) throw new Error(`splitBundle: expected one lambdas/handlers/<function>.ts in ${outputDir}/index.mjs.map, found ${[...fns].join(', ') || 'none'}`);
  rmSync(join(outputDir, 'index.mjs'), { force: true });
  rmSync(join(outputDir, 'index.mjs.map'), { force: true });
  await buildFunction(fn, outputDir);
  return fn;
}

/** The same settings as `NodejsFunction` bundling options; never uses Docker. */
export function cdkBundling(): BundlingOptions {
  const tsx = join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');
  const self = fileURLToPath(import.meta.url);
  return {
    minify: ESBUILD_SETTINGS.minify,
    sourceMap: ESBUILD_SETTINGS.sourcemap,
    sourceMapMode: SourceMapMode.EXTERNAL,
    sourcesContent: ESBUILD_SETTINGS.sourcesContent,
    target: ESBUILD_SETTINGS.target,
    format: OutputFormat.ESM,
    mainFields: [...ESBUILD_SETTINGS.mainFields],
    banner: ESBUILD_SETTINGS.banner,
    bundleAwsSDK: true,
    externalModules: [...ESBUILD_SETTINGS.external],
    esbuildArgs: { '--alias': Object.entries(ESBUILD_SETTINGS.alias).map(([from, to]) => `${from}=${to}`) },
    forceDockerBundling: false,
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      afterBundling: (_inputDir: string, outputDir: string) => [`"${tsx}" "${self}" --split "${outputDir}"`],
    },
  };
}

if (process.argv[2] === '--split' && process.argv[3] && process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await splitBundle(process.argv[3]);
}
