import { ConcurrencyLimit } from '../../../src/kernel/concurrency-limit';

/** A task that runs until `finish` is called. */
function held(): { task: () => Promise<string>; finish: (v: string) => void; started: () => boolean } {
  let finish: (v: string) => void = () => undefined;
  let started = false;
  const task = () =>
    new Promise<string>((resolve) => {
      started = true;
      finish = resolve;
    });
  return { task, finish: (v) => finish(v), started: () => started };
}

const refuse = () => new Error('refused');

describe('ConcurrencyLimit', () => {
  it('runs up to max at once, lets maxWaiting wait, refuses the next without starting it, and runs the waiting in turn', async () => {
    const limit = new ConcurrencyLimit(1, 1);
    const first = held();
    const second = held();
    const third = held();
    const a = limit.run(first.task, refuse);
    const b = limit.run(second.task, refuse);
    await expect(limit.run(third.task, refuse)).rejects.toThrow('refused');
    expect(third.started()).toBe(false);
    expect([limit.running, limit.waiting]).toEqual([1, 1]);
    expect(second.started()).toBe(false);
    first.finish('a');
    await expect(a).resolves.toBe('a');
    // The waiting one was handed the slot.
    await new Promise((r) => setImmediate(r));
    expect(second.started()).toBe(true);
    expect([limit.running, limit.waiting]).toEqual([1, 0]);
    second.finish('b');
    await expect(b).resolves.toBe('b');
    expect([limit.running, limit.waiting]).toEqual([0, 0]);
  });

  it('frees the slot of a task that fails', async () => {
    const limit = new ConcurrencyLimit(1, 0);
    await expect(limit.run(() => Promise.reject(new Error('boom')), refuse)).rejects.toThrow('boom');
    expect(limit.running).toBe(0);
    await expect(limit.run(() => Promise.resolve(1), refuse)).resolves.toBe(1);
  });
});
