/**
 * The one set of esbuild options for the Lambda bundles, used by the CDK `NodejsFunction`s and by
 * `scripts/bundle-report.ts`, so the measured bundle is the deployed bundle.
 */
import { fileURLToPath } from 'node:url';
import { OutputFormat, SourceMapMode, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';

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

/** The same settings as `NodejsFunction` bundling options; never uses Docker. */
export function cdkBundling(): BundlingOptions {
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
  };
}
