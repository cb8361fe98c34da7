import { collectConfigProblems } from '../event/config-check';

/**
 * `npm run config:check`: checks the environment and every file under CONFIG_DIR the way start-up does, and lists
 * every problem (`file:line:column field: message`). Exit status 0 when all is well, 1 otherwise, so CI and a
 * deployment pipeline can run it before rolling out a configuration change.
 */
function main(): void {
  const problems = collectConfigProblems(process.env);
  if (problems.length === 0) {
    process.stdout.write('configuration OK\n');
    return;
  }
  process.stderr.write(`${problems.join('\n')}\n${problems.length} configuration problem(s)\n`);
  process.exitCode = 1;
}

main();
