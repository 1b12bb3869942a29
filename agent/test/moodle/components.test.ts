/**
 * Plugins of a Moodle code tree found the way core_component finds them: `auth/db` is a plugin
 * (issue: every restore called it missing), `mnet/service/enrol` is `mnetservice_enrol`, and
 * subplugins know their parent.
 */
import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { discoverPlugins, pluginDisplayName, readCodeTreePlugins, subpluginParent } from '../../src/moodle/components.js';
import { codeComponents } from '../../src/moodle/site.js';
import { componentForFolder, loadInstallTree } from '../../src/schema/install-tree.js';
import { SCHEMA_DIR } from '../support/schema-dir.js';

const version = (component: string, v: string): string => `<?php\ndefined('MOODLE_INTERNAL') || die();\n$plugin->version   = ${v};\n$plugin->component = '${component}';\n`;

/** A small code tree laid out like Moodle 4.4's (lib/components.json, lib/plugins.json, subplugins.json). */
async function codeTree(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'code-tree-'));
  const files: Record<string, string> = {
    'version.php': '<?php $version = 2024042212.01;',
    'lib/components.json': JSON.stringify({ plugintypes: { mod: 'mod', auth: 'auth', mnetservice: 'mnet/service', tool: 'admin/tool', local: 'local' }, subsystems: { mnet: 'mnet' } }),
    'lib/plugins.json': JSON.stringify({ standard: { auth: ['db', 'manual'], mod: ['assign'], assignsubmission: ['file'], mnetservice: ['enrol'], tool: ['log'], logstore: ['standard'] } }),
    'auth/db/version.php': version('auth_db', '2024042200'),
    'auth/db/db/upgrade.php': '<?php',
    'auth/manual/version.php': version('auth_manual', '2024042201'),
    'auth/classes/helper.php': '<?php',
    'auth/tests/x.php': '<?php',
    'mod/assign/version.php': version('mod_assign', '2024042202'),
    'mod/assign/db/subplugins.json': JSON.stringify({ plugintypes: { assignsubmission: 'mod/assign/submission' } }),
    'mod/assign/submission/file/version.php': version('assignsubmission_file', '2024042203'),
    'mod/assign/lang/en/assign.php': "<?php $string['pluginname'] = 'Assignment';",
    'admin/tool/log/version.php': version('tool_log', '2024042204'),
    'admin/tool/log/db/subplugins.json': JSON.stringify({ plugintypes: { logstore: 'admin/tool/log/store' } }),
    'admin/tool/log/store/standard/version.php': version('logstore_standard', '2024042205'),
    'local/custom/version.php': version('local_custom', '2025010100'),
    'local/custom/lang/en/local_custom.php': "<?php\n$string['pluginname'] = 'Custom \\'things\\'';",
    'local/Bad-Name/version.php': version('local_bad', '1'),
  };
  for (const [p, text] of Object.entries(files)) {
    await mkdir(join(root, dirname(p)), { recursive: true });
    await writeFile(join(root, p), text);
  }
  await mkdir(join(root, 'mnet/service/enrol/db'), { recursive: true });
  await writeFile(join(root, 'mnet/service/enrol/version.php'), version('mnetservice_enrol', '2024042206'));
  await copyFile(join(SCHEMA_DIR, 'mnet/service/enrol/db/install.xml'), join(root, 'mnet/service/enrol/db/install.xml'));
  await mkdir(join(root, 'lib/db'), { recursive: true });
  return root;
}

describe('code tree plugins', () => {
  it('finds auth_db and subplugins, skips reserved folders and invalid names', async () => {
    const root = await codeTree();
    expect(await codeComponents(root)).toEqual(new Set(['mod_assign', 'auth_db', 'auth_manual', 'mnetservice_enrol', 'tool_log', 'assignsubmission_file', 'logstore_standard', 'local_custom']));
    const found = await discoverPlugins(root);
    expect(found.get('assignsubmission_file')).toMatchObject({ parent: 'mod_assign', folder: 'mod/assign/submission/file' });
    expect(found.get('logstore_standard')?.parent).toBe('tool_log');
    expect(found.get('auth_db')?.parent).toBeUndefined();
  });

  it('gives install.xml tables the component core_component names (mnetservice_enrol)', async () => {
    const root = await codeTree();
    const tables = await loadInstallTree(root);
    expect(tables.length).toBeGreaterThan(0);
    expect(new Set(tables.map((t) => t.component))).toEqual(new Set(['mnetservice_enrol']));
    // Without the tree's own files, Moodle 4.4's standard folders still map.
    expect(componentForFolder('mnet/service/enrol')).toBe('mnetservice_enrol');
    expect(componentForFolder('mod/assign/submission/file')).toBe('assignsubmission_file');
    expect(componentForFolder('lib')).toBe('core');
  });

  it('knows add-ons, their names and subplugin parents like siteinfo::get_plugins_list_full', async () => {
    const root = await codeTree();
    const code = await readCodeTreePlugins(root);
    expect(code).not.toBeNull();
    expect(code?.standard?.has('auth_db')).toBe(true);
    expect(code?.standard?.has('local_custom')).toBe(false);
    const local = code?.plugins.get('local_custom');
    expect(local && await pluginDisplayName(root, local)).toBe("Custom 'things'");
    const assign = code?.plugins.get('mod_assign');
    expect(assign && await pluginDisplayName(root, assign)).toBe('Assignment');
    expect(await readCodeTreePlugins(SCHEMA_DIR)).toBeNull();
    expect(subpluginParent('assignfeedback_editpdf')).toBe('mod_assign');
    expect(subpluginParent('tiny_media')).toBe('editor_tiny');
    expect(subpluginParent('mod_forum')).toBeUndefined();
  });
});
