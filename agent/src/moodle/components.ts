/**
 * Moodle's plugin list as `core_component` builds it, without running PHP: plugin types from
 * `lib/components.json`, subplugin types from `db/subplugins.json` of `mod`, `editor`, `tool` and
 * `local` plugins (their parent plugin recorded), and in each type folder every sub-folder with a
 * valid plugin name. A tree without `lib/components.json` (e.g. a schema snapshot) falls back to
 * Moodle 4.4's standard types.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One plugin of a code tree. */
export interface PluginComponent {
  /** Frankenstyle name, `type_name`. */
  component: string;
  type: string;
  name: string;
  /** Folder relative to the code tree, `/`-separated. */
  folder: string;
  /** For subplugins: the owning plugin (e.g. `mod_assign`), as `core_component::get_subtype_parent`. */
  parent?: string;
}

/** Moodle 4.4 `lib/components.json` plugin types (type → folder), in its order. */
export const STANDARD_PLUGIN_TYPES: Readonly<Record<string, string>> = {
  antivirus: 'lib/antivirus', availability: 'availability/condition', qtype: 'question/type', mod: 'mod', auth: 'auth',
  calendartype: 'calendar/type', communication: 'communication/provider', customfield: 'customfield/field', enrol: 'enrol',
  message: 'message/output', block: 'blocks', media: 'media/player', filter: 'filter', editor: 'lib/editor', format: 'course/format',
  dataformat: 'dataformat', profilefield: 'user/profile/field', report: 'report', coursereport: 'course/report',
  gradeexport: 'grade/export', gradeimport: 'grade/import', gradereport: 'grade/report', gradingform: 'grade/grading/form',
  mlbackend: 'lib/mlbackend', mnetservice: 'mnet/service', webservice: 'webservice', repository: 'repository', portfolio: 'portfolio',
  search: 'search/engine', qbank: 'question/bank', qbehaviour: 'question/behaviour', qformat: 'question/format', plagiarism: 'plagiarism',
  tool: 'admin/tool', cachestore: 'cache/stores', cachelock: 'cache/locks', fileconverter: 'files/converter',
  contenttype: 'contentbank/contenttype', theme: 'theme', local: 'local', h5plib: 'h5p/h5plib', paygw: 'payment/gateway',
  // Types of later Moodle versions, so their trees without components.json still map.
  aiprovider: 'ai/provider', aiplacement: 'ai/placement', smsgateway: 'sms/gateway',
};

/** Moodle 4.4 standard subplugin types: type → [folder, parent plugin] (from each parent's db/subplugins.json). */
export const STANDARD_SUBPLUGIN_TYPES: Readonly<Record<string, readonly [string, string]>> = {
  logstore: ['admin/tool/log/store', 'tool_log'], factor: ['admin/tool/mfa/factor', 'tool_mfa'],
  atto: ['lib/editor/atto/plugins', 'editor_atto'], tiny: ['lib/editor/tiny/plugins', 'editor_tiny'],
  assignsubmission: ['mod/assign/submission', 'mod_assign'], assignfeedback: ['mod/assign/feedback', 'mod_assign'],
  bbbext: ['mod/bigbluebuttonbn/extension', 'mod_bigbluebuttonbn'], booktool: ['mod/book/tool', 'mod_book'],
  datafield: ['mod/data/field', 'mod_data'], datapreset: ['mod/data/preset', 'mod_data'], forumreport: ['mod/forum/report', 'mod_forum'],
  ltisource: ['mod/lti/source', 'mod_lti'], ltiservice: ['mod/lti/service', 'mod_lti'], quiz: ['mod/quiz/report', 'mod_quiz'],
  quizaccess: ['mod/quiz/accessrule', 'mod_quiz'], scormreport: ['mod/scorm/report', 'mod_scorm'],
  workshopform: ['mod/workshop/form', 'mod_workshop'], workshopallocation: ['mod/workshop/allocation', 'mod_workshop'],
  workshopeval: ['mod/workshop/eval', 'mod_workshop'],
};

/** `core_component::$ignoreddirs`: never plugin folders (except `auth/db`, Moodle's own exception). */
const IGNORED_DIRS = new Set(['CVS', '_vti_cnf', 'amd', 'classes', 'db', 'fonts', 'lang', 'pix', 'simpletest', 'templates', 'tests', 'yui']);
/** `core_component::$supportsubplugins`, `local` last as in Moodle. */
const SUPPORTS_SUBPLUGINS = ['mod', 'editor', 'tool', 'local'];

/** `core_component::is_valid_plugin_name` (without the subsystem clash test for modules). */
export function isValidPluginName(type: string, name: string): boolean {
  if (type === 'mod') return /^[a-z][a-z0-9]*$/.test(name);
  return /^[a-z](?:[a-z0-9_](?!__))*[a-z0-9]+$/.test(name);
}

async function pluginFolders(root: string, type: string, folder: string): Promise<string[]> {
  const entries = await readdir(join(root, folder), { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .filter((n) => ((type === 'auth' && n === 'db') || !IGNORED_DIRS.has(n)) && isValidPluginName(type, n))
    .sort();
}

/** Subplugin types a plugin declares in `db/subplugins.json` (the deprecated `subplugins.php` read for literal pairs). */
async function subpluginTypes(root: string, folder: string): Promise<Record<string, string>> {
  const json = join(root, folder, 'db', 'subplugins.json');
  if (existsSync(json)) {
    try {
      const parsed = JSON.parse(await readFile(json, 'utf8')) as { plugintypes?: Record<string, string> };
      return parsed.plugintypes ?? {};
    } catch {
      return {}; // Moodle logs and ignores an invalid file too.
    }
  }
  const php = join(root, folder, 'db', 'subplugins.php');
  if (!existsSync(php)) return {};
  const out: Record<string, string> = {};
  for (const m of (await readFile(php, 'utf8')).matchAll(/['"]([a-z][a-z0-9]*)['"]\s*=>\s*['"]([^'"]+)['"]/g)) out[m[1] as string] = m[2] as string;
  return out;
}

/**
 * Every plugin of the code tree at `root`, keyed by component, in `core_component` order
 * (plugin types, subplugin types after their owners' type, `local` last).
 */
export async function discoverPlugins(root: string): Promise<Map<string, PluginComponent>> {
  let types: Record<string, string> = { ...STANDARD_PLUGIN_TYPES };
  const parents = new Map<string, string>();
  const componentsJson = join(root, 'lib', 'components.json');
  const fromTree = existsSync(componentsJson);
  if (fromTree) {
    const parsed = JSON.parse(await readFile(componentsJson, 'utf8')) as { plugintypes?: Record<string, string> };
    types = { ...(parsed.plugintypes ?? {}) };
    types.theme ??= 'theme';
  }
  const order = [...Object.keys(types).filter((t) => t !== 'local')];
  const addSubtypes = async (type: string): Promise<void> => {
    const folder = types[type];
    if (folder === undefined) return;
    for (const name of await pluginFolders(root, type, folder)) {
      const declared = fromTree ? await subpluginTypes(root, `${folder}/${name}`) : Object.fromEntries(
        Object.entries(STANDARD_SUBPLUGIN_TYPES).filter(([, [, p]]) => p === `${type}_${name}`).map(([t, [f]]) => [t, f]),
      );
      for (const [subtype, subfolder] of Object.entries(declared)) {
        if (!/^[a-z][a-z0-9]*$/.test(subtype) || types[subtype] !== undefined || !existsSync(join(root, subfolder))) continue;
        types[subtype] = subfolder;
        parents.set(subtype, `${type}_${name}`);
        order.push(subtype);
      }
    }
  };
  for (const t of SUPPORTS_SUBPLUGINS) if (t !== 'local') await addSubtypes(t);
  types.local ??= 'local';
  order.push('local');
  await addSubtypes('local');

  const out = new Map<string, PluginComponent>();
  for (const type of order) {
    const folder = types[type] as string;
    for (const name of await pluginFolders(root, type, folder)) {
      const p: PluginComponent = { component: `${type}_${name}`, type, name, folder: `${folder}/${name}` };
      const parent = parents.get(type);
      if (parent) p.parent = parent;
      out.set(p.component, p);
    }
  }
  return out;
}

/** Parent plugin of a subplugin component, from the tree's plugins or Moodle 4.4's standard subplugin types. */
export function subpluginParent(component: string, plugins?: Map<string, PluginComponent>): string | undefined {
  const fromTree = plugins?.get(component);
  if (fromTree) return fromTree.parent;
  const type = component.slice(0, component.indexOf('_'));
  return STANDARD_SUBPLUGIN_TYPES[type]?.[1];
}

/** What `__metadata__.json`'s `plugins` needs from a real code tree (one with lib/components.json). */
export interface CodeTreePlugins {
  plugins: Map<string, PluginComponent>;
  /** `lib/plugins.json` standard plugins (`type_name`), or null when the tree has none. */
  standard: Set<string> | null;
  root: string;
}

/** Reads a real code tree's plugins and standard list; null for trees without lib/components.json. */
export async function readCodeTreePlugins(root: string): Promise<CodeTreePlugins | null> {
  if (!existsSync(join(root, 'lib', 'components.json'))) return null;
  const plugins = await discoverPlugins(root);
  let standard: Set<string> | null = null;
  const pj = join(root, 'lib', 'plugins.json');
  if (existsSync(pj)) {
    const parsed = JSON.parse(await readFile(pj, 'utf8')) as { standard?: Record<string, string[]> };
    standard = new Set(Object.entries(parsed.standard ?? {}).flatMap(([type, names]) => names.map((n) => `${type}_${n}`)));
  }
  return { plugins, standard, root };
}

/** A plugin's `$string['pluginname']` from its English language file (a literal; '' if none). */
export async function pluginDisplayName(root: string, p: PluginComponent): Promise<string> {
  const file = join(root, p.folder, 'lang', 'en', `${p.type === 'mod' ? p.name : p.component}.php`);
  const src = await readFile(file, 'utf8').catch(() => '');
  const m = /\$string\[\s*['"]pluginname['"]\s*\]\s*=\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/.exec(src);
  if (!m) return '';
  return m[1] !== undefined ? m[1].replace(/\\(['\\])/g, '$1') : (m[2] ?? '').replace(/\\(["\\$])/g, '$1');
}
