import fs from 'node:fs';
import { ConfigError } from './config';

/** Reads a JSON configuration file: undefined when it does not exist, a ConfigError naming the file otherwise. */
export function tryReadJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw new ConfigError(`${file}: cannot read (${(err as Error).message})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ConfigError(`${file}: not valid JSON (${(err as Error).message})`);
  }
}
