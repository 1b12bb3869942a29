/** A `Mailer` over Amazon SES (API v2, `ses:SendEmail`), for the account Lambda. */
import { lazyMailer, type Mailer } from './mailer.js';

/** Settings of `sesMailer`. */
export interface SesSettings {
  /** A verified SES identity (address or an address of a verified domain), e.g. `Vault Cloud <no-reply@example.org>`. */
  from: string;
  region?: string;
  /** Configuration set to attach (bounce and complaint tracking), if any. */
  configurationSet?: string;
}

/** Sends each message with one SendEmail call; the SES client code loads on the first message (mailer.ts). */
export function sesMailer(s: SesSettings): Mailer {
  return lazyMailer(async () => (await import('./ses-client.js')).sesSender(s));
}
