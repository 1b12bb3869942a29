/**
 * The mail path of `npm start`: nodemailer over real SMTP into the embedded server, which keeps
 * each message as an .eml file and logs one line (recipient and subject, never the body).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalSmtp } from '../../lambdas/mail/local-smtp.js';
import { smtpMailer } from '../../lambdas/mail/mailer.js';

const dir = mkdtempSync(join(tmpdir(), 'vault-mail-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('local mailbox', () => {
  it('writes every message to <dir>/*.eml and logs "mail to <recipient>: <subject>"', async () => {
    const lines: string[] = [];
    const smtp = await startLocalSmtp(join(dir, 'mail'), (l) => lines.push(l));
    const mailer = smtpMailer({ host: '127.0.0.1', port: smtp.port, from: 'Vault Cloud <no-reply@localhost>' });
    try {
      await mailer.send({ to: 'ann@example.com', subject: 'Your Vault Cloud sign-in code', text: 'Your sign-in code is 123456\n' });
      await mailer.send({ to: 'bob@example.com', subject: 'Grüße – ünïcode', text: 'Hallo\n' });
    } finally {
      mailer.close?.();
      await smtp.close();
    }
    expect(lines).toEqual(['mail to ann@example.com: Your Vault Cloud sign-in code', 'mail to bob@example.com: Grüße – ünïcode']);
    const files = readdirSync(join(dir, 'mail')).filter((f) => f.endsWith('.eml')).sort();
    expect(files).toHaveLength(2);
    const first = readFileSync(join(dir, 'mail', files[0] as string), 'utf8');
    expect(first).toMatch(/^To: ann@example\.com$/m);
    expect(first).toMatch(/^From: Vault Cloud <no-reply@localhost>$/m);
    expect(first).toContain('Your sign-in code is 123456');
  });
});
