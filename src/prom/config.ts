// Where the shared instruments live and where a licensee's item texts are, from the environment.
import path from 'node:path';
import { projectRoot } from '../config.ts';

export interface PromSettings {
  /** Folder of instrument folders (default: instruments/ at the repository root). */
  instrumentsDir: string;
  /** Folder of licensed item texts, <instrument id>.json each; unset: the placeholders are shown. */
  textsDir: string | undefined;
}

export function promSettings(env: NodeJS.ProcessEnv = process.env): PromSettings {
  return {
    instrumentsDir: path.resolve(env.KVALREG_INSTRUMENTS_DIR ?? path.join(projectRoot(), 'instruments')),
    textsDir: env.KVALREG_INSTRUMENT_TEXTS_DIR ? path.resolve(env.KVALREG_INSTRUMENT_TEXTS_DIR) : undefined,
  };
}
