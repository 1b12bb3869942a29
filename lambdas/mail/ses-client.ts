/** The SES SDK code behind `sesMailer` (ses-mailer.ts), which imports this module on its first message. */
import { SendEmailCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import type { Mailer } from './mailer.js';
import type { SesSettings } from './ses-mailer.js';

/** Sends each message with one SendEmail call (simple content, UTF-8). */
export function sesSender(s: SesSettings): Required<Mailer> {
  const client = new SESv2Client({ region: s.region });
  return {
    async send(m) {
      await client.send(new SendEmailCommand({
        FromEmailAddress: s.from,
        Destination: { ToAddresses: [m.to] },
        Content: { Simple: { Subject: { Data: m.subject, Charset: 'UTF-8' }, Body: { Text: { Data: m.text, Charset: 'UTF-8' } } } },
        ...(s.configurationSet ? { ConfigurationSetName: s.configurationSet } : {}),
      }));
    },
    close() {
      client.destroy();
    },
  };
}
