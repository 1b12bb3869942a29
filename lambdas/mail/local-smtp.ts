/**
 * The embedded SMTP server of `npm start` (and of the tests): accepts every message on 127.0.0.1,
 * keeps it as `<dir>/<time>-<n>.eml` and logs one line `mail to <recipient>: <subject>`. It never
 * relays anything, so a local run cannot send real mail.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import libmime from 'libmime';
import { SMTPServer } from 'smtp-server';

/** A running local mailbox. */
export interface LocalSmtp {
  port: number;
  /** Folder holding the .eml files. */
  dir: string;
  close(): Promise<void>;
}

/** The Subject header of a raw message, unfolded and with its RFC 2047 encoded words decoded. */
function subjectOf(raw: string): string {
  const head = raw.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const m = /^Subject:[ \t]*(.*(?:\r?\n[ \t].*)*)/im.exec(head);
  return libmime.decodeWords((m?.[1] ?? '').replace(/\r?\n([ \t])/g, '$1'));
}

/** Starts the mailbox on `port` (0 = a free one), writing into `dir`; `log` gets one line per message. */
export async function startLocalSmtp(dir: string, log: (line: string) => void, port = 0): Promise<LocalSmtp> {
  mkdirSync(dir, { recursive: true });
  let n = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: 1024 * 1024,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${String(++n).padStart(4, '0')}.eml`);
        try {
          writeFileSync(file, raw);
        } catch (err) {
          callback(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        const to = session.envelope.rcptTo.map((r) => r.address).join(', ');
        log(`mail to ${to}: ${subjectOf(raw.toString('utf8'))}`);
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.server.address() as AddressInfo;
  return {
    port: address.port,
    dir,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
