// First: the FHIR definitions, the start-up's peak of memory, while the heap is nearly empty (index-definitions.ts).
import './kernel/fhir/index-definitions';
// Then OpenTelemetry (when OTEL_* asks for it): it has to patch modules before anything below loads them.
import './kernel/tracing-start';
import { reviewConfiguration } from './event/config-check';
import { buildBeforeConfig, ConfigError } from './kernel/config';
import { createLogger, errorFields } from './kernel/logger';
import { SchemaNewerThanCodeError } from './kernel/migrate';
import { closeTracing } from './kernel/telemetry';
import { ListenError, startRuntime } from './runtime';

/**
 * Ends a start-up whose configuration is wrong: exit code 2, after one JSON `fatal` line that lists every problem, in
 * the format of everything else the process logs, so that a log pipeline reads it (a crash-looping rollout's only
 * line). It names the build as the `starting` line does. People read the same list as plain text from `npm run
 * config:check`. The log level is not the configuration's (it may be among the problems): a fatal line always shows.
 */
function refuseConfiguration(problems: readonly string[]): never {
  const build = buildBeforeConfig(process.env);
  createLogger('info').fatal(
    {
      version: build.version,
      commit: build.commit,
      node: process.version,
      problems: problems.filter((p) => p.trim() !== ''),
    },
    'configuration invalid',
  );
  process.exit(2);
}

/** Entry point: `npm start`. Configuration comes from the environment only (see README). */
async function main(): Promise<void> {
  // Every problem in the environment and in every configuration file at once, before anything starts: neither the
  // database nor Redis is touched while INBOX_KEYS, a secret or a file is wrong. The configuration it parsed (once)
  // is the one this process runs with.
  const { problems, warnings, config } = reviewConfiguration(process.env);
  if (!config) {
    refuseConfiguration(problems);
  }
  const log = createLogger(config.LOG_LEVEL);
  for (const warning of warnings) {
    log.warn({ warning }, 'configuration warning');
  }
  let runtime;
  try {
    runtime = await startRuntime(config, { logger: log });
  } catch (err) {
    if (err instanceof ConfigError) {
      refuseConfiguration(err.message.split('\n'));
    }
    // One JSON line, as everything else this process logs, not a raw stack trace on stderr.
    if (err instanceof ListenError) {
      const { setting, port, host, code } = err;
      log.fatal({ setting, port, host, error: code ?? err.name, reason: err.message }, 'cannot listen on the port');
    } else if (err instanceof SchemaNewerThanCodeError) {
      // A newer release migrated this database, and not only with migrations an older build may run beside (README,
      // "Upgrading"): run that release, or restore the backup.
      const { newestKnown, newestApplied, unknown, blocking } = err;
      log.fatal({ newestKnown, newestApplied, unknown, blocking }, 'database schema is newer than this release');
    } else {
      log.fatal(errorFields(err), 'start-up failed');
    }
    process.exit(1);
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
