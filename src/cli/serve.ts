import type { Config } from '../config.ts';
import { startPlatform, type Platform } from '../platform.ts';
import { buildServer } from '../server/app.ts';
import { runDemo } from './demo.ts';

export async function listen(platform: Platform, port: number) {
  const app = buildServer(platform);
  await app.listen({ port, host: platform.config.httpHost });
  const recovered = await platform.inbox.recover();
  platform.log.info({ url: `http://localhost:${port}`, recovered }, 'kvalreg is running');
  const stop = async () => { await app.close(); await platform.close(); process.exit(0); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return app;
}

export async function serveCommand(config: Config, o: { port?: number }): Promise<void> {
  const platform = await startPlatform(config);
  await listen(platform, o.port ?? config.httpPort);
}

/** `npm start`: the platform with demo data loaded on first start, and the demo logins printed. */
export async function startCommand(config: Config, o: { port?: number }): Promise<void> {
  const platform = await startPlatform(config);
  const port = o.port ?? config.httpPort;
  await listen(platform, port);
  const hasData = Number((await platform.db.pool.query('SELECT count(*) FROM inbox_message')).rows[0].count) > 0;
  if (!hasData) {
    console.log('First start: generating one year of demo fracture traffic and sending it through the FHIR API …');
    await runDemo(platform, `http://127.0.0.1:${port}`, { years: 1, scale: 1, seed: 2024, concurrency: 6 });
  }
  const logins = (await platform.db.pool.query("SELECT name, kind FROM api_token WHERE name LIKE 'demo-%' ORDER BY name")).rows;
  console.log(`\nkvalreg is running at http://localhost:${port}  (FHIR API: http://localhost:${port}/fhir)`);
  if (logins.length) console.log(`Demo logins (tokens) are in ${platform.config.dataDir}/demo-logins.txt`);
}
