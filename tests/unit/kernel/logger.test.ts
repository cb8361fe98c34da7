import { unexpectedErrorFields } from '../../../src/kernel/logger';

describe('unexpectedErrorFields', () => {
  it('logs where JSON.parse failed, not the text V8 quotes in its message', () => {
    let thrown: unknown;
    try {
      JSON.parse('Jansen 111222333');
    } catch (err) {
      thrown = err;
    }
    expect((thrown as Error).message).toContain('111222333'); // what would have reached the log
    const fields = unexpectedErrorFields(thrown);
    expect(fields.error).toBe('SyntaxError');
    expect(fields.at[0]).toMatch(/^JSON\.parse|tests\/unit\/kernel\/logger\.test\.ts:\d+:\d+/);
    expect(JSON.stringify(fields)).not.toContain('111222333');
  });

  it('keeps a string code (ECONNREFUSED, a PostgreSQL SQLSTATE) and at most five frames, paths from the project', () => {
    const deep = (n: number): Error => (n === 0 ? Object.assign(new Error('x'), { code: '23505' }) : deep(n - 1));
    const fields = unexpectedErrorFields(deep(10));
    expect(fields.code).toBe('23505');
    expect(fields.at).toHaveLength(5);
    expect(fields.at.join('\n')).not.toContain(process.cwd());
    expect(fields.at[0]).toMatch(/tests\/unit\/kernel\/logger\.test\.ts:\d+:\d+/);
  });

  it('names what was thrown when it is not an Error', () => {
    expect(unexpectedErrorFields('a string with 111222333')).toEqual({ error: 'string', at: [] });
  });
});
