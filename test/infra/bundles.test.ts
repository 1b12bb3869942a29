/**
 * The deployed bundles (same esbuild settings as the stack): within the gzip budget, and each
 * loads as ESM in a fresh node process and exports `handler`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FUNCTION_NAMES } from '../../infra/bundling.js';
import { bundle, GZIP_BUDGET_BYTES, loadOnce, sizesOf } from '../../scripts/bundle-report.js';

const outDir = mkdtempSync(join(tmpdir(), 'vault-bundles-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('Lambda bundles', () => {
  it.each(FUNCTION_NAMES)('%s is within 300 KB gzip and loads with a handler export', async (fn) => {
    const file = await bundle(fn, outDir);
    const { gzipBytes } = sizesOf(file);
    expect(gzipBytes).toBeLessThanOrEqual(GZIP_BUDGET_BYTES);
    expect(loadOnce(file).wallMs).toBeGreaterThan(0);
  });
});
