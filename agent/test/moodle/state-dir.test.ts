/**
 * The agent's state folder: outside the dataroot and the code tree, owner-only, moved from the
 * old `<dataroot>/vault-agent/` once, and never replaced by what a restored archive carries.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ZipArchiveWriter } from '../../src/archive/zip-writer.js';
import { extractDatarootArchive } from '../../src/files/extract.js';
import { datarootItems } from '../../src/files/sources.js';
import { createContext } from '../../src/site/context.js';
import { defaultStateBase, loadState, prepareStateDir, resolveSite, saveState, siteStateDir, SiteConfigError } from '../../src/moodle/site.js';

const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

async function siteWithConfig(): Promise<{ root: string; dataroot: string; config: string }> {
  const root = await mkdtemp(join(tmpdir(), 'state-site-'));
  const dataroot = join(root, 'moodledata');
  await mkdir(dataroot);
  const config = join(root, 'config.php');
  await writeFile(config, `<?php\n$CFG->dbtype = 'pgsql';\n$CFG->dataroot = '${dataroot}';\n$CFG->wwwroot = 'https://x.example';\n`);
  return { root, dataroot, config };
}

describe('state folder location', () => {
  it('defaults: env, then /var/lib/vault-agent for root, else XDG_STATE_HOME or ~/.local/state', () => {
    expect(defaultStateBase({ VAULT_AGENT_STATE_DIR: '/srv/agent' }, 0)).toBe('/srv/agent');
    expect(defaultStateBase({}, 0)).toBe('/var/lib/vault-agent');
    expect(defaultStateBase({ XDG_STATE_HOME: '/home/u/.st', HOME: '/home/u' }, 1000)).toBe('/home/u/.st/vault-agent');
    expect(defaultStateBase({ XDG_STATE_HOME: 'relative', HOME: '/home/u' }, 1000)).toBe('/home/u/.local/state/vault-agent');
  });

  it('one sub-folder per site, keyed by the real path of the dataroot (a symlink maps to the same folder)', async () => {
    const { root, dataroot } = await siteWithConfig();
    const link = join(root, 'link');
    await symlink(dataroot, link);
    const other = join(root, 'other');
    await mkdir(other);
    const a = siteStateDir('/b', dataroot);
    expect(a).toMatch(/^\/b\/moodledata-[0-9a-f]{16}$/);
    expect(siteStateDir('/b', link)).toBe(a);
    expect(siteStateDir('/b', other)).not.toBe(a);
  });

  it('resolveSite honours --state-dir over VAULT_AGENT_STATE_DIR and exposes dboptions dbcollation', async () => {
    const { config, dataroot } = await siteWithConfig();
    const env = { VAULT_AGENT_STATE_DIR: '/from-env' };
    expect((await resolveSite({ config }, env)).stateDir.startsWith('/from-env/moodledata-')).toBe(true);
    expect((await resolveSite({ config, stateDir: '/from-flag' }, env)).stateDir).toBe(siteStateDir('/from-flag', dataroot));
  });

  it('refuses a state folder inside the dataroot or the code tree', async () => {
    const { config, dataroot, root } = await siteWithConfig();
    const inData = await resolveSite({ config, stateDir: join(dataroot, 'x') }, {});
    await expect(prepareStateDir(inData)).rejects.toBeInstanceOf(SiteConfigError);
    const inCode = await resolveSite({ config, moodleDir: root, stateDir: join(root, 'state') }, {});
    await expect(prepareStateDir(inCode)).rejects.toThrow(/inside the Moodle code tree.*--state-dir/);
  });
});

describe('state files', () => {
  it('creates a persistent 32-char site id, dir 0700 and state.json 0600; a world-readable state is tightened', async () => {
    const base = await mkdtemp(join(tmpdir(), 'state-base-'));
    const { dataroot } = await siteWithConfig();
    const site = { dataroot, stateDir: siteStateDir(base, dataroot) };
    await prepareStateDir(site);
    const a = await loadState(site);
    const b = await loadState(site);
    expect(a.siteid).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(b.siteid).toBe(a.siteid);
    expect(await mode(site.stateDir)).toBe(0o700);
    const file = join(site.stateDir, 'state.json');
    expect(await mode(file)).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ siteid: a.siteid, dataroot });
    await saveState(site, { ...a, apikey: 'K' });
    expect(await mode(file)).toBe(0o600);
    const { chmod } = await import('node:fs/promises');
    await chmod(file, 0o666);
    expect((await loadState(site)).apikey).toBe('K');
    expect(await mode(file)).toBe(0o600);
  });

  it('moves <dataroot>/vault-agent/ on first run (files 0600), then ignores a leftover that a restore writes', async () => {
    const base = await mkdtemp(join(tmpdir(), 'state-base-'));
    const { config, dataroot } = await siteWithConfig();
    const old = join(dataroot, 'vault-agent');
    await mkdir(join(old, 'restore-preserved'), { recursive: true });
    await writeFile(join(old, 'state.json'), JSON.stringify({ siteid: 'OLDSITEID', apikey: 'OLDKEY', apiurl: 'http://api' }), { mode: 0o666 });
    await writeFile(join(old, 'restore-preserved', 'config.json'), '[]', { mode: 0o644 });
    const ctx = await createContext({ config, stateDir: base, quiet: true }, {});
    expect(ctx.site.stateDir).toBe(siteStateDir(base, dataroot));
    expect(ctx.state).toMatchObject({ siteid: 'OLDSITEID', apikey: 'OLDKEY' });
    expect(await readdir(dataroot)).toEqual([]);
    expect(await mode(join(ctx.site.stateDir, 'state.json'))).toBe(0o600);
    expect(await mode(join(ctx.site.stateDir, 'restore-preserved', 'config.json'))).toBe(0o600);
    expect(await mode(join(ctx.site.stateDir, 'restore-preserved'))).toBe(0o700);
    expect(ctx.tmpDir).toBe(join(ctx.site.stateDir, 'tmp'));

    // A plugin restore of an old backup writes the source site's state into the dataroot.
    await mkdir(old);
    await writeFile(join(old, 'state.json'), JSON.stringify({ siteid: 'SOURCESITE', apikey: 'SOURCEKEY' }), { mode: 0o666 });
    const again = await createContext({ config, stateDir: base, quiet: true }, {});
    expect(again.state).toMatchObject({ siteid: 'OLDSITEID', apikey: 'OLDKEY' });
    expect(JSON.parse(await readFile(join(old, 'state.json'), 'utf8'))).toMatchObject({ siteid: 'SOURCESITE' });
  });

  it('a leftover vault-agent/ folder is never backed up, and a dataroot archive carrying one never writes it', async () => {
    const { dataroot } = await siteWithConfig();
    await mkdir(join(dataroot, 'vault-agent'));
    await writeFile(join(dataroot, 'vault-agent', 'state.json'), '{"apikey":"x"}');
    await writeFile(join(dataroot, 'kept.txt'), 'k');
    const items = [];
    for await (const i of datarootItems(dataroot, [], { warn: () => undefined })) items.push(i.entry);
    expect(items).toEqual(['kept.txt']);

    // An archive as the plugin writes it for a site where an old agent ran.
    const dir = await mkdtemp(join(tmpdir(), 'state-zip-'));
    const zipPath = join(dir, 'dataroot.zip');
    const w = new ZipArchiveWriter('dataroot.zip', createWriteStream(zipPath));
    await w.add('vault-agent/state.json', Buffer.from('{"siteid":"SOURCE","apikey":"SOURCEKEY"}'));
    await w.add('vault-agent/tmp/x', Buffer.from('x'));
    await w.add('lang/de/moodle.php', Buffer.from('<?php'));
    await w.close();
    const target = await mkdtemp(join(tmpdir(), 'state-target-'));
    const warnings: string[] = [];
    expect(await extractDatarootArchive(zipPath, target, { warn: (m) => warnings.push(m) })).toBe(1);
    expect(await readdir(target)).toEqual(['lang']);
    expect(warnings.join('\n')).toMatch(/skipped 2 file\(s\) under vault-agent\//);
  });
});
