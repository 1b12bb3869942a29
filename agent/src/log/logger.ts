/** Timestamped plain-text log lines on stderr (stdout stays free for command output). */

export type LogLevel = 'info' | 'warn' | 'error';

/** A minimal logger other modules can take as a dependency. */
export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** A logger writing `<ISO time> <LEVEL> <message>` lines to `stream`. */
export function createLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  const line = (level: LogLevel) => (msg: string) => {
    stream.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}\n`);
  };
  return { info: line('info'), warn: line('warn'), error: line('error') };
}

/** A logger that drops everything (library default). */
export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
