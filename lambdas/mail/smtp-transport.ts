/** nodemailer's SMTP transport behind `smtpMailer` (mailer.ts), which imports this module on its first message. */
import nodemailer from 'nodemailer';
import type { Mailer, SmtpSettings } from './mailer.js';

/** Sends each message over one SMTP connection to `s.host`. */
export function smtpSender(s: SmtpSettings): Required<Mailer> {
  const transport = nodemailer.createTransport({
    host: s.host, port: s.port, secure: s.secure ?? false, requireTLS: s.requireTls ?? false,
    ...(s.user ? { auth: { user: s.user, pass: s.password ?? '' } } : {}),
  });
  return {
    async send(m) {
      await transport.sendMail({ from: s.from, to: m.to, subject: m.subject, text: m.text });
    },
    close() {
      transport.close();
    },
  };
}
