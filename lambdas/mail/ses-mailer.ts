/** A `Mailer` over Amazon SES (API v2, `ses:SendEmail`), for the account Lambda. */
import { SendEmailCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import type { Mailer } from './mailer.js';

/** Settings of `sesMailer`. */
export interface SesSettings {
  /** A verified SES identity (address or an address of a verified domain), e.g. `Vault Cloud <no-reply@example.org>`. */
  from: string;
  region?: string;
  /** Configuration set to attach (bounce and complaint tracking), if any. */
  configurationSet?: string;
}

/** Sends each message with one SendEmail call (simple content, UTF-8). */
export function sesMailer(s: SesSettings): Mailer {
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
