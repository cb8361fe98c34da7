import { reviewConfiguration } from '../event/config-check';

/**
 * `npm run config:check`: checks the environment and every file under CONFIG_DIR the way start-up does, and lists
 * every problem (`file:line:column field: message`), then what is allowed but probably not meant (`warning: …`).
 * Exit status 0 when there is no problem (warnings or not), 1 otherwise, so CI and a
 * deployment pipeline can run it before rolling out a configuration change.
 */
function main(): void {
  const { problems, warnings } = reviewConfiguration(process.env);
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

main();
