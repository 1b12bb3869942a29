/** docs/api.md's plans table says what `PLANS` says. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PLANS, type Plan } from './plans.js';

const GIB = 1024 ** 3;

function row(p: Plan): string {
  const size = p.sizeLimit === null ? 'none' : `${p.sizeLimit / GIB} GiB`;
  const choosable = p.canChangeExpiration ? `${p.minExpireDays}–${p.maxExpireDays}` : 'no';
  const n = (v: number | null) => (v === null ? 'unlimited' : String(v));
  return `| ${p.id} | ${p.defaultExpireDays} | ${choosable} | ${size} | ${p.regions.join(', ')} | ${p.passphrase ? 'yes' : 'no'} | ${n(p.restoresPer30Days)} | ${n(p.maxStoredBackups)} |`;
}

describe('docs/api.md', () => {
  it('has one row per plan matching the plan table', () => {
    const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    for (const plan of Object.values(PLANS)) expect(doc).toContain(row(plan));
  });
});
