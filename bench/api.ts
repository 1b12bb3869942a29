/** API load: autocannon at fixed rates vs a bare Hono + GetItem baseline (filled in below). */
import type { BenchContext } from './context.js';
import type { SectionResult } from './report.js';

export async function runApiSection(_ctx: BenchContext): Promise<SectionResult> {
  return { id: 'api', tables: [], targets: [], data: null, notMeasured: ['api: not implemented in this commit'] };
}
