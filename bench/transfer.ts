/** Transfer: agent upload/download vs curl and aws s3 cp on the same Ceph RGW (filled in below). */
import type { BenchContext } from './context.js';
import type { SectionResult } from './report.js';

export async function runTransferSection(_ctx: BenchContext): Promise<SectionResult> {
  return { id: 'transfer', tables: [], targets: [], data: null, notMeasured: ['transfer: not implemented in this commit'] };
}
