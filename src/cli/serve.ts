import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { sealAudit } from '../access/audit.ts';
import { startPlatform, type Platform } from '../platform.ts';
import { buildServer } from '../server/app.ts';
import { runDemo } from './demo.ts';

export async function listen(platform: Platform, port: number) {
  const app = await buildServer(platform);
  await app.listen({ port, host: platform.config.httpHost });
  const recovered = await platform.inbox.recover();
  platform.log.info({ url: `http://localhost:${port}`, recovered }, 'kvalreg is running');
  // Seal the audit trail every few seconds (one sealer at a time across processes). This moves to
  // the PostgreSQL-backed job queue when the platform has one.
  const sealer = setInterval(() => {
    sealAudit(platform.db.pool, platform.keys).then((n) => { if (n) platform.log.debug({ sealed: n }, 'audit events sealed'); })
      .catch((err) => platform.log.error({ err }, 'sealing the audit trail failed'));
  }, 5000);
  sealer.unref();
  // New data reaches the analytics tables within seconds; indicator results are kept warm (and
  // recomputed when the day changes, for follow-up windows) by a check every minute.
  platform.analytics.start(platform.config.analyticsIntervalMs);
  const warm = setInterval(() => {
    for (const r of platform.registries) platform.indicators.ensureFresh(r).catch((err) => platform.log.error({ err }, 'computing indicators failed'));
  }, 60_000);
  warm.unref();
  // Report subscriptions: due reports are queued and sent by the job queue (KVALREG_REPORT_INTERVAL_MS).
  platform.reports.dispatch.start(platform.config.reportIntervalMs);
  if (!platform.config.smtpUrl) platform.log.warn('KVALREG_SMTP_URL is not set: report subscriptions are queued but cannot be e-mailed');
  const stop = async () => { clearInterval(sealer); clearInterval(warm); await app.close(); await sealAudit(platform.db.pool, platform.keys).catch(() => 0); await platform.close(); process.exit(0); };
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
  // The demo's senders exist once the demo has been loaded.
  const demoLoaded = (await platform.db.pool.query("SELECT 1 FROM api_token WHERE name = 'demo-ehr'")).rowCount! > 0;
  if (!demoLoaded) {
    console.log('First start: generating one year of demo fracture traffic and sending it through the FHIR API …');
    await runDemo(platform, `http://127.0.0.1:${port}`, { years: 1, scale: 1, seed: 2024, concurrency: 6 });
  }
  console.log(`\nkvalreg is running at http://localhost:${port}  (FHIR API: http://localhost:${port}/fhir)`);
  const file = path.join(platform.config.dataDir, 'demo-logins.txt');
  if (fs.existsSync(file)) {
    console.log(`Demo logins (bearer tokens; also in ${file}):`);
    for (const line of fs.readFileSync(file, 'utf8').trim().split('\n')) console.log(`  ${line.replace('\t', '  ')}`);
  }
}
