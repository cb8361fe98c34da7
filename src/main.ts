// First: OpenTelemetry (when OTEL_* asks for it) has to patch modules before anything below loads them.
import './kernel/tracing-start';
import { collectConfigProblems } from './event/config-check';
import { ConfigError, loadConfig } from './kernel/config';
import { createLogger, errorFields } from './kernel/logger';
import { closeTracing } from './kernel/telemetry';
import { startRuntime } from './runtime';

/** Entry point: `npm start`. Configuration comes from the environment only (see README). */
async function main(): Promise<void> {
  // Every problem in the environment and in every configuration file at once, before anything starts: neither the
  // database nor Redis is touched while INBOX_KEYS, a secret or a file is wrong.
  const problems = collectConfigProblems(process.env);
  if (problems.length > 0) {
    process.stderr.write(`${problems.join('\n')}\n`);
    process.exit(2);
  }
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const log = createLogger(config.LOG_LEVEL);
  let runtime;
  try {
    runtime = await startRuntime(config, { logger: log });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const rt = runtime;
  let signals = 0;
  const stop = (signal: string) => {
    if (++signals > 1) {
      process.exit(1);
    }
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error('shutdown timed out');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    rt.shutdown()
      .then(() => closeTracing())
      .then(
        () => process.exit(0),
        (err: Error) => {
          log.error(errorFields(err), 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void main();
