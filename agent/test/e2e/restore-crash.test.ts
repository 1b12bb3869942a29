/**
 * The crash matrix of issue 12 (agent/test/support/crash-matrix.ts): the real fixture sites
 * restored by vault-agent onto PostgreSQL and onto MariaDB; each restore killed (SIGKILL) at a
 * failpoint and resumed, or failing from inside, must end as exactly the backup's content or
 * exactly the site as it was. One file, both engines at once: vitest runs one file at a time on
 * a 2-core machine, so two files would not overlap.
 *
 * Kill points (12 distinct): the five of the database stages on both engines (staging load,
 * engine indexes, before and after the switch, old tables: their code differs per engine); the
 * seven whose code is the same on both engines (download, first table, dataroot and filedir
 * extraction, dataroot switch, post-restore blobs and finish) split between the two, so that
 * every point runs and the matrix stays within its time budget (each kill case is a restore
 * and a resume: 10–45 s; MariaDB's are the slower, so PostgreSQL takes five of the seven).
 *
 * Carry-over (db/carry-over.ts): 404 of the 485 tables are empty on both sites and left in
 * place, so a restore stages 81; one case writes a row into a carried-over table while a killed
 * restore waits, and the resumed restore must stage it and end as exactly the backup.
 *
 * DDL failures: on PostgreSQL a real one, an event trigger (the test user is a superuser) that
 * raises an exception when an index of `forum_posts` is created, whatever schema or name the
 * restore stages it under (dropped afterwards). MariaDB has no event triggers, and the real
 * failures it offers (a lowered max_allowed_packet, a held metadata lock) would change or block
 * the server other test files share, so there the failure is injected before the
 * engine-specific indexes are built. The real failure, a foreign key from outside the
 * prefix, runs on both.
 */
import { crashMatrixSuite, KILL_POINTS as K, sql } from '../support/crash-matrix.js';

const TRIGGER = 'crash_refuse_forum_posts_index';

crashMatrixSuite([
  {
    engine: 'pg',
    kills: [K.download, K.firstTable, K.midLoad, K.engineIndexes, K.filedir, K.switchBefore, K.switchAfterDb, K.switchDataroot, K.oldTables, K.blobs],
    ddlFailure: {
      title: 'a real DDL failure: an event trigger refuses an index on forum_posts during the staging load',
      make: (m) => ({
        cause: 'an event trigger raising an exception for an index on forum_posts',
        arrange: async () => {
          await sql(m.target.dbUrl, [
            `CREATE FUNCTION ${TRIGGER}() RETURNS event_trigger LANGUAGE plpgsql AS $$
             DECLARE r record;
             BEGIN
               FOR r IN SELECT t.relname FROM pg_event_trigger_ddl_commands() d
                   JOIN pg_index i ON i.indexrelid = d.objid JOIN pg_class t ON t.oid = i.indrelid
                  WHERE d.object_type = 'index' AND NOT i.indisprimary LOOP
                 IF r.relname LIKE '%forum\\_posts' THEN
                   RAISE EXCEPTION 'crash matrix: an index on % refused by an event trigger', r.relname;
                 END IF;
               END LOOP;
             END $$`,
            `CREATE EVENT TRIGGER ${TRIGGER} ON ddl_command_end EXECUTE FUNCTION ${TRIGGER}()`,
          ]);
        },
        says: [{ re: /refused by an event trigger/, what: "the database's error" }],
        cleanup: async () => {
          await sql(m.target.dbUrl, [`DROP EVENT TRIGGER IF EXISTS ${TRIGGER}`, `DROP FUNCTION IF EXISTS ${TRIGGER}()`]);
        },
      }),
    },
  },
  {
    engine: 'mariadb',
    kills: [K.midLoad, K.engineIndexes, K.dataroot, K.switchBefore, K.switchAfterDb, K.oldTables, K.finish],
    ddlFailure: {
      title: 'an injected failure before the engine-specific indexes are built (restore.load.engine-indexes=error)',
      make: () => ({ cause: 'the failpoint restore.load.engine-indexes=error', failpoints: 'restore.load.engine-indexes=error' }),
    },
  },
]);
