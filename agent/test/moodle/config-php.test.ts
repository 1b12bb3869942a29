import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigPhp, toPlain } from '../../src/moodle/config-php.js';
import { databaseUrl, resolveSite, SiteConfigError } from '../../src/moodle/site.js';

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
});

/** A config.php as container images write it (environment variables, defaults, constants). */
const CONTAINER = `<?php
unset($CFG);
global $CFG;
$CFG = new stdClass();
define('DBPREFIX', 'mdl_');
$dbhost = getenv('MOODLE_DB_HOST') ?: 'db';
$CFG->dbtype    = getenv('MOODLE_DB_TYPE');
$CFG->dbhost    = $dbhost;
$CFG->dbname    = getenv('MOODLE_DB_NAME') ?: 'moodle';
$CFG->dbuser    = $_ENV['MOODLE_DB_USER'] ?? 'moodle';
$CFG->dbpass    = getenv('MOODLE_DB_PASSWORD');
$CFG->prefix    = DBPREFIX;
$CFG->dboptions = [
  'dbport' => getenv('MOODLE_DB_PORT') ?: 3306,
  'dbcollation' => 'utf8mb4_unicode_ci',
  'dbhandlesoptions' => SOME_UNKNOWN_CONSTANT,
];
$CFG->wwwroot   = 'https://' . getenv('MOODLE_HOST');
$CFG->dataroot  = '/var/www/moodledata';
$CFG->forced_plugin_settings = ['tool_vault' => [
  'apiurl' => getenv('VAULT_URL') ?: 'http://127.0.0.1:8787',
  'apikey' => getenv('VAULT_KEY'),
  'allowrestore' => 1,
]];
$CFG->tempdir = $CFG->dataroot . '/temp';
require_once(__DIR__ . '/lib/setup.php');
`;

const ENV_OK = { MOODLE_DB_TYPE: 'mariadb', MOODLE_DB_PASSWORD: 's3cret', MOODLE_HOST: 'lms.example.org', VAULT_KEY: 'KEY1' };

describe('config.php as it is in the wild', () => {
  it('evaluates getenv(), $_ENV, ?: and ?? defaults, define() constants and local variables', () => {
    const { cfg, issues } = parseConfigPhp(CONTAINER, '/srv/moodle/config.php', ENV_OK);
    expect(cfg.get('dbtype')).toBe('mariadb');
    expect(cfg.get('dbhost')).toBe('db');
    expect(cfg.get('dbname')).toBe('moodle');
    expect(cfg.get('dbuser')).toBe('moodle');
    expect(cfg.get('dbpass')).toBe('s3cret');
    expect(cfg.get('prefix')).toBe('mdl_');
    expect(cfg.get('wwwroot')).toBe('https://lms.example.org');
    // The one unreadable element is reported with its line; its siblings are kept.
    expect(toPlain(cfg.get('dboptions') ?? null)).toEqual({ dbport: 3306, dbcollation: 'utf8mb4_unicode_ci' });
    expect(issues).toEqual([{ path: ['dboptions', 'dbhandlesoptions'], line: 16, reason: 'cannot evaluate constant SOME_UNKNOWN_CONSTANT', conditional: false }]);
    expect(toPlain(cfg.get('forced_plugin_settings') ?? null)).toEqual({ tool_vault: { apiurl: 'http://127.0.0.1:8787', apikey: 'KEY1', allowrestore: 1 } });
    expect(cfg.get('tempdir')).toBe('/var/www/moodledata/temp');
  });

  it('resolves the site from it: forced tool_vault settings and dbcollation exposed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'site-'));
    await writeFile(join(dir, 'config.php'), CONTAINER);
    const site = await resolveSite({ moodleDir: dir, stateDir: join(dir, '..', 'state') }, { ...ENV_OK, MOODLE_DB_HOST: 'mariadb.internal' });
    expect(site).toMatchObject({ family: 'mysql', dbhost: 'mariadb.internal', dbport: 3306, dbcollation: 'utf8mb4_unicode_ci', wwwroot: 'https://lms.example.org' });
    expect(site.forcedPluginSettings.tool_vault).toEqual({ apiurl: 'http://127.0.0.1:8787', apikey: 'KEY1', allowrestore: '1' });
    // Where values came from the agent's environment is said, by variable name only (never the values).
    expect(site.configWarnings).toHaveLength(1);
    expect(site.configWarnings?.[0]).toMatch(/reads MOODLE_DB_HOST, .*MOODLE_DB_PASSWORD.* from the environment/);
    expect(site.configWarnings?.[0]).not.toContain('s3cret');
    expect((await resolveSite({ moodleDir: dir, dbcollation: 'utf8mb4_bin' }, ENV_OK)).dbcollation).toBe('utf8mb4_bin');
  });

  it('names the line and the override of a value it cannot read (unset variable, unknown constant, conditional)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'site-'));
    await writeFile(join(dir, 'config.php'), CONTAINER);
    // MOODLE_DB_PASSWORD is set only for PHP-FPM, not in the agent's shell: PHP would read false.
    const noPass = { ...ENV_OK, MOODLE_DB_PASSWORD: undefined };
    await expect(resolveSite({ moodleDir: dir }, noPass)).rejects.toThrow(/config\.php line 11: cannot read \$CFG->dbpass \(getenv\('MOODLE_DB_PASSWORD'\) is not set in this environment\); pass --dbpass or set VAULT_DBPASS/);
    expect((await resolveSite({ moodleDir: dir, dbpass: 'x' }, noPass)).dbpass).toBe('x');
    expect((await resolveSite({ moodleDir: dir }, { ...noPass, VAULT_DBPASS: 'y' })).dbpass).toBe('y');

    const noKey = await resolveSite({ moodleDir: dir }, { ...ENV_OK, VAULT_KEY: undefined });
    expect(noKey.configWarnings?.join('\n')).toMatch(/line 22: cannot read \$CFG->forced_plugin_settings\['tool_vault'\]\['apikey'\].*--api-key or VAULT_API_KEY/);

    const src = `<?php
define('DBHOST', 'h');
$CFG->dbtype = 'pgsql';
$CFG->dataroot = '/data';
$CFG->dbhost = MOODLE_DB_HOST;
$CFG->dbname = 'a';
if (getenv('STAGING')) {
    $CFG->dbname = 'b';
    $CFG->wwwroot = 'https://staging';
}
$CFG->prefix = strtolower('MDL_');
$CFG->prefix = 'm_';
$CFG->dbuser = 'u' + 1;
`;
    await writeFile(join(dir, 'config.php'), src);
    await expect(resolveSite({ moodleDir: dir }, {})).rejects.toThrow(/line 5: cannot read \$CFG->dbhost \(cannot evaluate constant MOODLE_DB_HOST\); pass --dbhost or set VAULT_DBHOST/);
    await expect(resolveSite({ moodleDir: dir }, {})).rejects.toThrow(/line 13: cannot read \$CFG->dbuser \(cannot evaluate '\+' in the value\); pass --dbuser/);
    await expect(resolveSite({ moodleDir: dir, dbhost: 'h', dbuser: 'u' }, {})).rejects.toThrow(/line 9: \$CFG->wwwroot is only assigned inside 'if'.*--wwwroot/);
    const site = await resolveSite({ moodleDir: dir, dbhost: 'h', wwwroot: 'https://w', dbuser: 'u' }, {});
    expect(site.dbname).toBe('a');
    expect(site.prefix).toBe('m_'); // the later literal replaces the unreadable call
    expect(site.configWarnings).toEqual([expect.stringMatching(/line 8: \$CFG->dbname is assigned inside 'if' \(not evaluated\).*--dbname or set VAULT_DBNAME/)]);
  });
});
