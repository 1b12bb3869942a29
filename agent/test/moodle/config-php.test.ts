import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigPhp, toPlain } from '../../src/moodle/config-php.js';
import { databaseUrl, loadState, resolveSite, SiteConfigError } from '../../src/moodle/site.js';

const STANDARD = `<?php  // Moodle configuration file

unset($CFG);
global $CFG;
$CFG = new stdClass();

$CFG->dbtype    = 'pgsql';
$CFG->dblibrary = 'native';
$CFG->dbhost    = 'db.internal';
$CFG->dbname    = 'moodle';
$CFG->dbuser    = 'moodleuser';
$CFG->dbpass    = 'p@ss\\'word';
$CFG->prefix    = 'mdl_';
$CFG->dboptions = array (
  'dbpersist' => 0,
  'dbport' => 6432,
  'dbsocket' => '',
  'dbcollation' => 'utf8mb4_unicode_ci',
);

$CFG->wwwroot   = 'https://moodle.example.org/';
$CFG->dataroot  = '/var/moodledata';
$CFG->admin     = 'admin';
$CFG->directorypermissions = 0777;
# a comment
/* block
   comment $CFG->wwwroot = 'nope'; */
$CFG->noemailever = true;
$CFG->debug = (E_ALL | E_STRICT);
$CFG->forced_plugin_settings = [
    'tool_vault' => ['apikey' => "abc\\tdef", 'apiurl' => 'http://localhost:3000'],
    'auth_ldap' => array('host_url' => 'ldap://x'),
];
$CFG->forced_plugin_settings['tool_vault']['siteid'] = 'S1';
$CFG->session_handler_class = '\\core\\session\\redis';
$CFG->customscripts = __DIR__ . '/custom';
if (getenv('X')) {
  $CFG->wwwroot = 'http://other';
}
require_once(__DIR__ . '/lib/setup.php');
// There is no php closing tag in this file,
`;

describe('config.php reader', () => {
  it('reads scalars, nested arrays and forced plugin settings of a standard config.php', () => {
    const { cfg, skipped } = parseConfigPhp(STANDARD, '/srv/moodle/config.php');
    expect(cfg.get('dbtype')).toBe('pgsql');
    expect(cfg.get('dbpass')).toBe("p@ss'word");
    expect(cfg.get('wwwroot')).toBe('https://moodle.example.org/');
    expect(cfg.get('directorypermissions')).toBe(0o777);
    expect(cfg.get('noemailever')).toBe(true);
    expect(toPlain(cfg.get('dboptions') ?? null)).toEqual({ dbpersist: 0, dbport: 6432, dbsocket: '', dbcollation: 'utf8mb4_unicode_ci' });
    expect(toPlain(cfg.get('forced_plugin_settings') ?? null)).toEqual({
      tool_vault: { apikey: 'abc\tdef', apiurl: 'http://localhost:3000', siteid: 'S1' },
      auth_ldap: { host_url: 'ldap://x' },
    });
    expect(cfg.get('session_handler_class')).toBe('\\core\\session\\redis');
    expect(cfg.get('customscripts')).toBe('/srv/moodle/custom');
    expect(cfg.has('debug')).toBe(false); // constants cannot be evaluated: skipped, not guessed
    expect(skipped.some((s) => s.includes('getenv'))).toBe(true);
    expect(skipped.some((s) => s.includes('require_once'))).toBe(true);
  });

  it('handles double-quoted escapes, concatenation, dirname(__FILE__) and a closing tag', () => {
    const src = `<?php
$CFG->dataroot = dirname(__FILE__) . "/../data\\n";
$CFG->a = 'x' . 1 . "y";
$CFG->b = -5;
$CFG->c = NULL;
$CFG->d = array(1, 'two', array('k' => false));
?>
$CFG->e = 'after close tag';`;
    const { cfg } = parseConfigPhp(src, '/a/b/config.php');
    expect(cfg.get('dataroot')).toBe('/a/b/../data\n');
    expect(cfg.get('a')).toBe('x1y');
    expect(cfg.get('b')).toBe(-5);
    expect(cfg.get('c')).toBe(null);
    expect(toPlain(cfg.get('d') ?? null)).toEqual({ 0: 1, 1: 'two', 2: { k: false } });
    expect(cfg.has('e')).toBe(false);
  });
});

describe('site resolution', () => {
  it('merges config.php, env and flags (flags win) and builds a database URL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'site-'));
    await writeFile(join(dir, 'config.php'), STANDARD);
    const site = await resolveSite({ moodleDir: dir, dbhost: 'flaghost' }, { VAULT_DBUSER: 'envuser' });
    expect(site.configPath).toBe(join(dir, 'config.php'));
    expect(site.family).toBe('postgres');
    expect(site.dbhost).toBe('flaghost');
    expect(site.dbuser).toBe('envuser');
    expect(site.dbport).toBe(6432);
    expect(site.wwwroot).toBe('https://moodle.example.org');
    expect(site.forcedPluginSettings.tool_vault?.apiurl).toBe('http://localhost:3000');
    expect(site.cfgOverrides.admin).toBe('admin');
    expect(databaseUrl(site)).toBe("postgres://envuser:p%40ss'word@flaghost:6432/moodle");
  });

  it('refuses without dbtype/dataroot and names the env variables', async () => {
    await expect(resolveSite({}, {})).rejects.toBeInstanceOf(SiteConfigError);
    await expect(resolveSite({}, {})).rejects.toThrow(/VAULT_DBTYPE/);
  });

  it('creates a persistent 32-char site id in the state folder', async () => {
    const dataroot = await mkdtemp(join(tmpdir(), 'dr-'));
    const a = await loadState({ dataroot });
    const b = await loadState({ dataroot });
    expect(a.siteid).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(b.siteid).toBe(a.siteid);
  });
});
