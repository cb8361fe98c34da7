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

/**
 * How an error nobody expected is logged (an answer of 500): its class, its code and where it was thrown, but not
 * its message. Such errors come from code that was not written to keep data out of its messages: a HIS dialect's
 * mapper, `JSON.parse` (V8 quotes the text it could not read), PostgreSQL (which quotes the value it refused). The
 * frames say where to look; the request's trace id finds the request.
 */
export function unexpectedErrorFields(err: unknown): { error: string; code?: string; at: string[] } {
  const e = err as Partial<Error> & { code?: unknown };
  const at = (typeof e?.stack === 'string' ? e.stack.split('\n') : [])
    .filter((line) => /^\s+at /.test(line))
    .slice(0, STACK_FRAMES_LOGGED)
    .map((line) =>
      line
        .trim()
        .slice(3)
        .replaceAll(process.cwd() + '/', ''),
    );
  return { error: e?.name ?? typeof err, ...(typeof e?.code === 'string' ? { code: e.code } : {}), at };
}

/** Enough frames to see the caller of a library function, few enough for one log line. */
const STACK_FRAMES_LOGGED = 5;
