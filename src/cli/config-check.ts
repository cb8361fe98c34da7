import { reviewConfiguration, reviewPendingDeliveries } from '../event/config-check';
import { buildBeforeConfig } from '../kernel/config';

/**
 * Which build does the checking, as every process's first log line says it: a check passed by another release than
 * the one rolled out proves little, so a pipeline's log shows which one it was. A commit the environment gives that
 * is no commit id is one of the problems listed; the line then names the checkout's commit, or `unknown`.
 */
function buildLine(env: NodeJS.ProcessEnv): string {
  const build = buildBeforeConfig(env);
  return `checking with jeugdbrug ${build.version}, commit ${build.commit}`;
}

/**
 * `npm run config:check`: checks the environment and every file under CONFIG_DIR the way start-up does, and lists
 * every problem (`file:line:column field: message`), then what is allowed but probably not meant (`warning: …`; with
 * `DATABASE_URL`, also the destinations it leaves out that still hold pending deliveries),
 * after a first line naming the build that checked (version and commit).
 * Exit status 0 when there is no problem (warnings or not), 1 otherwise, so CI and a
 * deployment pipeline can run it before rolling out a configuration change.
 */
async function main(): Promise<void> {
  process.stdout.write(`${buildLine(process.env)}\n`);
  const { problems, warnings, config } = reviewConfiguration(process.env);
  if (config) {
    // With the database the configuration names: deliveries waiting for destinations it leaves out.
    warnings.push(...(await reviewPendingDeliveries(config)));
  }
  for (const warning of warnings) {
    process.stderr.write(`warning: ${warning}\n`);
  }
  if (problems.length === 0) {
    process.stdout.write('configuration OK\n');
    return;
  }
  process.stderr.write(`${problems.join('\n')}\n${problems.length} configuration problem(s)\n`);
  process.exitCode = 1;
}

void main();
