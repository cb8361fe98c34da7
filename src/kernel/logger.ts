import pino, { type Logger } from 'pino';

/**
 * Paths that could hold personal data if someone ever logs an event or a resource by mistake: they are
 * censored. Log messages themselves carry ids and counts only.
 */
const REDACT_PATHS = [
  '*.bsn',
  '*.birthDate',
  '*.name',
  '*.given',
  '*.family',
  '*.identifier',
  '*.payload',
  '*.resource',
  '*.resources',
  '*.child',
  '*.guardians',
  '*.note',
  '*.text',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  '*.headers.authorization',
];

/** The JSON logger: `"level":"warn"`, the label, so that log pipelines and people read the level without a table. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'jeugdbrug' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/**
 * How an error is logged everywhere: its class and message. Never the whole object: a PostgreSQL error's `detail`
 * and a failed request's body can quote the values that caused them.
 */
export function errorFields(err: unknown): { error: string; reason: string } {
  const e = err as Partial<Error> | undefined;
  return { error: e?.name ?? typeof err, reason: e?.message ?? String(err) };
}
