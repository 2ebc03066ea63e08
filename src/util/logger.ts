import pino from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void;

/** Structured JSON logs (pino) to stderr, so stdout stays free for data and the status line goes to the TTY. */
export function createLogger(level: LogLevel): { logger: pino.Logger; log: LogFn } {
  const logger = pino({ level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
  const log: LogFn = (lvl, msg, extra) => logger[lvl](extra ?? {}, msg);
  return { logger, log };
}
