import { createHook, executionAsyncId } from 'node:async_hooks';

/**
 * Runs `act` and returns where each timer it left pending and ref'd (one that would hold the process open) was
 * created: one stack per timer, [] when none.
 *
 * Only timers created while `act` runs count, and not those Jest creates itself (the frame calling setTimeout is in
 * Jest). A count of process.getActiveResourcesInfo() taken before and after counts every timer in the process: it
 * moved either way when Jest's reporter, running the file in band, armed or ran out its 100 ms status timer between
 * the two counts.
 */
export async function timersLeftBehind(act: () => Promise<unknown>): Promise<string[]> {
  const created: { timer: NodeJS.Timeout; stack: string }[] = [];
  // Resources `act` set going, directly or through others it set going. A timer that something from before `act`
  // re-arms meanwhile (a queue worker another test file of this Jest worker left running) is not `act`'s.
  const ours = new Set([executionAsyncId()]);
  const hook = createHook({
    init(id, type, trigger, resource) {
      if (!ours.has(trigger)) {
        return;
      }
      ours.add(id);
      if (type === 'Timeout') {
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 30;
        const stack = new Error('timer created').stack ?? '';
        Error.stackTraceLimit = limit;
        created.push({ timer: resource as NodeJS.Timeout, stack });
      }
    },
  });
  hook.enable();
  try {
    await act();
  } finally {
    hook.disable();
  }
  return created
    .filter(({ timer }) => pending(timer) && timer.hasRef())
    .map(({ stack }) =>
      stack
        .split('\n')
        .slice(2)
        .filter((frame) => !frame.includes('(node:')),
    )
    .filter((frames) => !/[\\/]node_modules[\\/](@jest[\\/]|jest-)/.test(frames[0] ?? ''))
    .map((frames) => frames.join('\n'));
}

/** Node marks a timer that has run or been cleared `_destroyed` (no public accessor; async_hooks' destroy is late). */
function pending(timer: NodeJS.Timeout): boolean {
  return (timer as unknown as { _destroyed?: boolean })._destroyed === false;
}
