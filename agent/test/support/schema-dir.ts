import { fileURLToPath } from 'node:url';

/** The real Moodle 4.4 schema (install.xml files) in shared/, beside the repository: the test data. */
export const SCHEMA_DIR = fileURLToPath(new URL('../../../../shared/moodle-schema/4.4.12+/', import.meta.url));
