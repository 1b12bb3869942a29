/** The bench's pure parts and the measurement helper on trivial real commands. */
import { describe, expect, it } from 'vitest';
import { parseFlags } from './run.js';
import { measureCommand, parseTimeOutput } from './measure.js';
import { fmtBytes, fmtMs, fmtRatio, mbPerSec, ratio, renderTable } from './report.js';
import { parseCannon } from './api.js';
import { bundleTargets } from './bundles.js';
import { loadSchema, prng, tsv } from './dataset.js';
import { medianRun } from './db.js';

describe('report formatting', () => {
  it('computes and formats ratios, sizes, times and rates', () => {
    expect(ratio(50, 100)).toBe(0.5);
    expect(Number.isNaN(ratio(1, 0))).toBe(true);
    expect(Number.isNaN(ratio(undefined, 1))).toBe(true);
    expect(fmtRatio(1.234)).toBe('1.23×');
    expect(fmtRatio(Number.NaN)).toBe('–');
    expect(fmtBytes(150 * 1024 * 1024)).toBe('150.0 MB');
    expect(fmtMs(12_345)).toBe('12.3 s');
    expect(fmtMs(999)).toBe('999 ms');
    expect(mbPerSec(10e6, 2000)).toBe(5);
  });

  it('renders an aligned Markdown table with notes', () => {
    const out = renderTable({ title: 'T', columns: ['a', 'bb'], rows: [['xxx', 'y']], notes: ['n'] });
    expect(out).toBe('### T\n\n| a   | bb |\n|-----|----|\n| xxx | y  |\n\n- n');
  });
});

describe('flags', () => {
  it('defaults to the quick profile at scale S without the whole-site run', () => {
    const f = parseFlags([]);
    expect(f.full).toBe(false);
    expect(f.scales).toEqual(['S']);
    expect([...f.only].sort()).toEqual(['api', 'bundles', 'db', 'transfer']);
    expect([...parseFlags(['--full']).only].sort()).toEqual(['api', 'bundles', 'db', 'site', 'transfer']);
  });
  it('--full runs S, M and L; --scale and --only narrow it', () => {
    expect(parseFlags(['--full']).scales).toEqual(['S', 'M', 'L']);
    const f = parseFlags(['--scale', 'm', '--only', 'db,transfer']);
    expect(f.scales).toEqual(['M']);
    expect([...f.only]).toEqual(['db', 'transfer']);
    expect(() => parseFlags(['--only', 'nope'])).toThrow(/unknown section/);
    expect(() => parseFlags(['--scale', 'XL'])).toThrow(/S, M or L/);
  });
});

describe('measureCommand', () => {
  it('measures a real child: exit code, wall time, CPU and the RSS of its tree', async () => {
    const m = await measureCommand(process.execPath, ['-e', 'const b = Buffer.alloc(64 * 1024 * 1024, 1); let s = 0; for (let i = 0; i < 3e7; i++) s += i; setTimeout(() => console.log(b[0] + s), 300);'], { label: 'node' });
    expect(m.exitCode).toBe(0);
    expect(m.wallMs).toBeGreaterThan(250);
    expect(m.cpuMs).toBeGreaterThan(0);
    expect(m.peakRssBytes).toBeGreaterThan(64 * 1024 * 1024);
  });
  it('reports a failing command without throwing', async () => {
    const m = await measureCommand('sh', ['-c', 'echo boom >&2; exit 3'], { label: 'fail' });
    expect(m.exitCode).toBe(3);
    expect(m.stderrTail).toContain('boom');
  });
  it('parses /usr/bin/time output, also after a non-zero exit line', () => {
    expect(parseTimeOutput('Command exited with non-zero status 1\n1.50 0.25\n')).toEqual({ userMs: 1500, sysMs: 250 });
  });
});

describe('dataset and schema helpers', () => {
  it('the PRNG is deterministic per seed', () => {
    const a = prng(7);
    const b = prng(7);
    expect([a(), a(), a()]).toEqual([b(), b(), b()]);
  });
  it('escapes values for COPY / LOAD DATA text format', () => {
    expect(tsv(null)).toBe('\\N');
    expect(tsv('a\tb\nc\\d')).toBe('a\\tb\\nc\\\\d');
    expect(tsv(42)).toBe('42');
  });
  it("reads the 485 Moodle 4.4 tables with the agent's XMLDB loader, sorted by name", async () => {
    const tables = await loadSchema();
    expect(tables).toHaveLength(485);
    const names = tables.map((t) => t.name);
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));
    const log = tables.find((t) => t.name === 'logstore_standard_log');
    expect(log?.fields.find((f) => f.name === 'id')).toMatchObject({ type: 'int', sequence: true });
  });
});

describe('section helpers', () => {
  it('picks the median run by wall time', () => {
    const m = (wallMs: number) => ({ label: '', wallMs, cpuMs: 0, peakRssBytes: 0, exitCode: 0, stderrTail: '' });
    expect(medianRun([m(3), m(1), m(2)])?.wallMs).toBe(2);
  });
  it('reads autocannon --json output', () => {
    const r = parseCannon(JSON.stringify({ latency: { p50: 3, p99: 9 }, requests: { average: 99.5, total: 995 }, non2xx: 1, errors: 0, timeouts: 2 }));
    expect(r).toEqual({ p50: 3, p99: 9, rps: 99.5, total: 995, non2xx: 1, errors: 2 });
  });
  it('judges bundle targets on the worst function', () => {
    const t = bundleTargets([{ fn: 'a', bytes: 1, gzipBytes: 100 * 1024, loadMs: 70 }, { fn: 'b', bytes: 1, gzipBytes: 400 * 1024, loadMs: 20 }]);
    expect(t.map((x) => x.met)).toEqual([false, false]);
    expect(t[0]?.figure).toContain('b');
    expect(t[1]?.figure).toContain('a');
  });
});
