// Where the shared instruments live and where a licensee's item texts are, from the environment.
import path from 'node:path';
import { projectRoot } from '../config.ts';

export interface PromSettings {
  /** Folder of instrument folders (default: instruments/ at the repository root). */
  instrumentsDir: string;
  /** Folder of licensed item texts, <instrument id>.json each; unset: the placeholders are shown. */
  textsDir: string | undefined;
  /** The order channels are tried in (those not configured, or that cannot reach the patient, are skipped). */
  channels: string[];
  /** SMS gateway: its HTTP API, a bearer token, and the sender name shown to the patient. */
  sms: { url: string | undefined; token: string | undefined; sender: string };
  /** A FHIR endpoint that takes a Task per invitation (Helsenorge-style digital form). */
  task: { url: string | undefined; token: string | undefined };
  /** How often the background job runs (milliseconds; 0 = not started by the server). */
  intervalMs: number;
  /** Sending attempts before an invitation is marked not reachable (and printed on paper). */
  maxAttempts: number;
}

export function promSettings(env: NodeJS.ProcessEnv = process.env): PromSettings {
  return {
    instrumentsDir: path.resolve(env.KVALREG_INSTRUMENTS_DIR ?? path.join(projectRoot(), 'instruments')),
    textsDir: env.KVALREG_INSTRUMENT_TEXTS_DIR ? path.resolve(env.KVALREG_INSTRUMENT_TEXTS_DIR) : undefined,
    channels: (env.KVALREG_PROM_CHANNELS ?? 'helsenorge,email,sms')
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean),
    sms: {
      url: env.KVALREG_SMS_URL || undefined,
      token: env.KVALREG_SMS_TOKEN || undefined,
      sender: env.KVALREG_SMS_SENDER ?? 'Sykehuset',
    },
    task: { url: env.KVALREG_TASK_URL || undefined, token: env.KVALREG_TASK_TOKEN || undefined },
    intervalMs: Number(env.KVALREG_PROM_INTERVAL_MS ?? 60_000),
    maxAttempts: Number(env.KVALREG_PROM_MAX_ATTEMPTS ?? 5),
  };
}
