/**
 * Reads the table definitions of a Moodle code tree: every `db/install.xml`, each attributed
 * to its frankenstyle component. Components come from `PLUGINS.tsv` when the tree has one
 * (our stand-in schema folder), else from Moodle's plugin-type folder map.
 */
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { XmldbTable } from './model.js';
import { parseXmldb } from './xmldb-parse.js';

/** Folder → plugin type, from Moodle's lib/components.json (plus common subplugin folders). */
const PLUGIN_TYPE_FOLDERS: Record<string, string> = {
  'admin/tool': 'tool', 'admin/tool/log/store': 'logstore', 'admin/tool/dataprivacy/rule': 'dataprivacyrule',
  'ai/placement': 'aiplacement', 'ai/provider': 'aiprovider', antivirus: 'antivirus', auth: 'auth', availability: 'availability',
  'availability/condition': 'availability', blocks: 'block', 'cache/stores': 'cachestore', 'cache/locks': 'cachelock',
  calendar: 'calendartype', 'calendar/type': 'calendartype', communication: 'communication', 'communication/provider': 'communication',
  'contentbank/contenttype': 'contenttype', customfield: 'customfield', 'customfield/field': 'customfield', 'admin/tool/customlang': 'tool',
  enrol: 'enrol', filter: 'filter', 'grade/export': 'gradeexport', 'grade/import': 'gradeimport', 'grade/report': 'gradereport',
  'grade/grading/form': 'gradingform', 'h5p/h5plib': 'h5plib', local: 'local', 'lib/editor': 'editor', 'lib/editor/atto/plugins': 'atto',
  'lib/editor/tiny/plugins': 'tiny', 'media/player': 'media', message: 'message', 'message/output': 'message', mod: 'mod',
  'mod/assign/submission': 'assignsubmission', 'mod/assign/feedback': 'assignfeedback', 'mod/quiz/accessrule': 'quizaccess',
  'mod/quiz/report': 'quiz', 'mod/workshop/form': 'workshopform', 'mod/workshop/allocation': 'workshopallocation',
  'mod/workshop/eval': 'workshopeval', 'mod/book/tool': 'booktool', 'mod/data/field': 'datafield', 'mod/data/preset': 'datapreset',
  'mod/lti/source': 'ltisource', 'mod/lti/service': 'ltiservice', 'mod/forum/report': 'forumreport', 'mod/scorm/report': 'scormreport',
  'mod/assign/feedback/editpdf': 'assignfeedback', 'payment/gateway': 'paygw', plagiarism: 'plagiarism', portfolio: 'portfolio',
  'question/behaviour': 'qbehaviour', 'question/format': 'qformat', 'question/type': 'qtype', 'question/bank': 'qbank',
  report: 'report', repository: 'repository', search: 'search', 'search/engine': 'search', theme: 'theme', 'user/profile/field': 'profilefield',
  webservice: 'webservice', 'course/format': 'format', 'course/report': 'coursereport', 'reportbuilder/source': 'rbsource',
  'admin/tool/brickfield/tool': 'tool', 'lib/mlbackend': 'mlbackend', 'lib/antivirus': 'antivirus', 'files/converter': 'fileconverter',
  'badges/backpack': 'backpack', 'analytics/indicator': 'indicator', 'enrol/lti/source': 'enrol', fileconverter: 'fileconverter',
  'mod/quiz/report/statistics': 'quiz_statistics',
};

/** Frankenstyle name of the component whose folder is `folder` (relative, `/`-separated). */
export function componentForFolder(folder: string): string {
  if (folder === 'lib' || folder === '') return 'core';
  const slash = folder.lastIndexOf('/');
  const parent = folder.slice(0, slash);
  const name = folder.slice(slash + 1);
  const type = PLUGIN_TYPE_FOLDERS[parent];
  return type ? `${type}_${name}` : `${parent.replace(/\//g, '_')}_${name}`;
}

async function findInstallFiles(root: string, dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    if (e.isDirectory()) {
      // Skip test fixtures and vendored code: they are not installed plugins.
      if (['tests', 'node_modules', 'vendor', '.git'].includes(e.name)) continue;
      await findInstallFiles(root, join(dir, e.name), out);
    } else if (e.name === 'install.xml' && dir.endsWith(`${sep}db`)) {
      out.push(relative(root, dir).split(sep).slice(0, -1).join('/'));
    }
  }
}

/** All table definitions of a Moodle code tree (or a folder laid out like one). */
export async function loadInstallTree(root: string): Promise<XmldbTable[]> {
  const known = new Map<string, string>();
  const tsv = join(root, 'PLUGINS.tsv');
  if (existsSync(tsv)) {
    for (const line of (await readFile(tsv, 'utf8')).split('\n').slice(1)) {
      const [component, folder] = line.split('\t');
      if (component && folder) known.set(folder, component);
    }
  }
  const folders: string[] = [];
  await findInstallFiles(root, root, folders);
  folders.sort();
  const tables: XmldbTable[] = [];
  for (const folder of folders) {
    const component = known.get(folder) ?? componentForFolder(folder);
    const xml = await readFile(join(root, folder, 'db', 'install.xml'), 'utf8');
    tables.push(...parseXmldb(xml, component));
  }
  return tables;
}
