// `kvalreg demo`: runs the platform's demo (demo/run.ts, outside src/ since it generates one
// registry's traffic) against a platform started here.
import { cliLog } from './log.ts';
import type { Config } from '../config.ts';
import { startPlatform } from '../platform.ts';
import { buildServer } from '../server/app.ts';
import { DEMO_PATIENT_FILE, runDemo, type DemoOpts } from '../../demo/run.ts';

export { DEMO_PATIENT_FILE, runDemo };

/** The demo sends synthetic test identity numbers: it runs as a test deployment that accepts them. */
export function demoConfig(config: Config): Config {
  return { ...config, allowTestIdentities: true };
}

export async function demoCommand(config: Config, o: DemoOpts): Promise<void> {
  // The demo's patients have synthetic test numbers (never a real person's): a test deployment.
  const platform = await startPlatform(demoConfig(config), { log: cliLog() });
  const app = await buildServer(platform);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  try {
    await runDemo(platform, `http://127.0.0.1:${port}`, o);
  } finally {
    await app.close();
    await platform.close();
  }
}
