/**
 * Outgoing e-mail. The API only ever sends short plain-text messages (sign-in codes), through a
 * `Mailer`: SMTP (nodemailer) for self-hosters and for `npm start`, whose embedded SMTP server
 * (local-smtp.ts) keeps each message as an .eml file; Amazon SES from Lambda (ses-mailer.ts).
 *
 * Both load their library on the first message (`import()`; a file of its own in the Lambda
 * bundle, infra/bundling.ts): nodemailer alone is a third of the account bundle, and most cold
 * starts send no mail.
 */

/** One message. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** Something that delivers messages. */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
  /** Frees connections (tests, shutdown). */
  close?(): void;
}

/** Settings of `smtpMailer`. */
export interface SmtpSettings {
  host: string;
  port: number;
  /** From address, e.g. `Vault Cloud <no-reply@example.com>`. */
  from: string;
  /** Implicit TLS (port 465); otherwise STARTTLS is used when the server offers it. */
  secure?: boolean;
  /** Require STARTTLS (refuse to send in clear text). */
  requireTls?: boolean;
  user?: string;
  password?: string;
}

/**
 * A mailer whose sender is made by `load` on the first message (a failed load is tried again on
 * the next one); `close` frees it if it was made.
 */
export function lazyMailer(load: () => Promise<Required<Mailer>>): Mailer {
  let sender: Promise<Required<Mailer>> | undefined;
  return {
    async send(m) {
      sender ??= load().catch((err: unknown) => {
        sender = undefined;
        throw err;
      });
      await (await sender).send(m);
    },
    close() {
      void sender?.then((s) => s.close(), () => undefined);
    },
  };
}

/** A mailer over SMTP (nodemailer; one connection per message: also right for a Lambda, which freezes between calls). */
export function smtpMailer(s: SmtpSettings): Mailer {
  return lazyMailer(async () => (await import('./smtp-transport.js')).smtpSender(s));
}

/**
 * SMTP settings from the environment (self-hosting): SMTP_HOST, SMTP_PORT (587), SMTP_SECURE
 * ("true" for 465), SMTP_REQUIRE_TLS ("true"), SMTP_USER, SMTP_PASSWORD, MAIL_FROM. Undefined when
 * SMTP_HOST is not set.
 */
export function smtpSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): SmtpSettings | undefined {
  if (!env.SMTP_HOST) return undefined;
  return {
    host: env.SMTP_HOST, port: Number(env.SMTP_PORT ?? 587), from: env.MAIL_FROM ?? 'Vault Cloud <no-reply@localhost>',
    secure: env.SMTP_SECURE === 'true', requireTls: env.SMTP_REQUIRE_TLS === 'true', user: env.SMTP_USER, password: env.SMTP_PASSWORD,
  };
}
