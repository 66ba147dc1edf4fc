import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config, OidcSettings } from '../config.ts';
import { DEFAULT_OIDC_SCOPES, DEFAULT_PID_CLAIM } from '../config.ts';
import { sealAudit } from '../audit/trail.ts';
import { platformJobs } from '../jobs/platform-jobs.ts';
import { serveMetrics } from '../server/metrics.ts';
import type { LocalProvider } from '../auth/local-idp.ts';
import { handleSignalsYourself } from '../db/embedded.ts';
import { startPlatform, type Platform } from '../platform.ts';
import { buildServer, type ServerOptions } from '../server/app.ts';
import { forkWorkers, isWorker, workerCount } from '../server/cluster.ts';
import { ensureWebBuild } from '../server/web-build.ts';
import { DEMO_PASSWORD, DEMO_USERS, demoPatient, seedDemoUsers } from '../../demo/users.ts';
import { demoConfig, DEMO_PATIENT_FILE, runDemo } from './demo.ts';

export async function listen(
  platform: Platform,
  port: number,
  opts: ServerOptions = {},
  onStop: Array<() => Promise<void>> = [],
  mode: { http?: boolean; jobs?: boolean; workers?: number } = {},
) {
  // An HTTP worker (KVALREG_WORKERS > 1, server/cluster.ts) serves requests only; the primary runs
  // the background jobs and serves through its workers.
  const http = mode.http ?? true,
    runJobs = mode.jobs ?? true;
  const app = http ? await buildServer(platform, opts) : undefined;
  if (app) await app.listen({ port, host: platform.config.httpHost });
  const workers = mode.workers && mode.workers > 1 ? forkWorkers(platform, mode.workers, port, platform.db.appUrl) : undefined;
  // Prometheus scrapes each serving process on a port of its own (server/metrics.ts). A taken port
  // costs the metrics, not the platform (with KVALREG_WORKERS, the first worker to bind it serves them).
  const metricsServer =
    app && platform.config.metricsPort > 0
      ? await serveMetrics(app.metrics, platform.config.metricsHost, platform.config.metricsPort).catch((err) => {
          platform.log.warn(
            { err, port: platform.config.metricsPort },
            'cannot serve /metrics (set KVALREG_METRICS_PORT to a free port, or 0 for none)',
          );
          return undefined;
        })
      : undefined;
  if (metricsServer) platform.log.info({ url: metricsServer.url }, 'metrics for Prometheus');
  if (!runJobs) {
    platform.log.info({ url: `http://localhost:${port}`, worker: process.pid }, 'HTTP worker is running');
    return stopOnSignals(
      platform,
      app,
      async () => {
        metricsServer?.close();
      },
      onStop,
    );
  }
  const recovered = await platform.inbox.recover();
  platform.log.info({ url: `http://localhost:${port}`, recovered }, 'kvalreg is running');
  // Background work (audit sealing, analytics refresh, indicator recomputation, report dispatch,
  // PROM scheduling) runs in one process at a time across every process on this database: the
  // leader (jobs/leader.ts). Every process campaigns; the others take over when the leader goes.
  const jobs = platformJobs(platform);
  jobs.start();
  app?.metrics.leading(() => jobs.isLeader);
  if (!platform.config.smtpUrl) platform.log.warn('KVALREG_SMTP_URL is not set: report subscriptions are queued but cannot be e-mailed');
  return stopOnSignals(
    platform,
    app,
    async () => {
      metricsServer?.close();
      await within(jobs.stop(3000), 4000);
      // Workers finish their requests first: they write through the database the primary may stop.
      if (workers) await within(workers.stop(), 10_000);
    },
    onStop,
  );
}

/** A clean stop on SIGINT/SIGTERM: requests, then the background jobs, then the database. */
function stopOnSignals(
  platform: Platform,
  app: Awaited<ReturnType<typeof buildServer>> | undefined,
  stopJobs: () => Promise<void>,
  onStop: Array<() => Promise<void>>,
) {
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    // A second signal means "now": the operator is not waiting for a clean stop.
    if (stopping) {
      platform.log.warn({ signal }, 'stopping at once');
      process.exit(1);
    }
    stopping = true;
    platform.log.info({ signal }, 'stopping');
    // Whatever hangs (a database that is gone, a request that never ends), the process stops: a
    // supervisor's SIGTERM is followed by SIGKILL, and a clean stop is worth only so much waiting.
    setTimeout(() => {
      platform.log.error({ seconds: STOP_DEADLINE_MS / 1000 }, 'did not stop in time; exiting');
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    if (app) await within(app.close(), 3000);
    await stopJobs();
    // The embedded PostgreSQL stops on the same signal: seal and close the database first, then
    // the rest (the local login service). A database that does not answer gets a few seconds.
    await within(
      sealAudit(platform.db.pool, platform.auditKeys).catch(() => 0),
      2000,
    );
    await within(
      platform.close().catch((err) => platform.log.warn({ err }, 'closing the platform failed')),
      4000,
    );
    // Closing waits for the pool before it stops the embedded server: with a database that hangs it
    // never gets there, so the server is stopped here too (a no-op when it has stopped).
    await within(platform.db.embedded?.stop() ?? Promise.resolve(), 9000);
    for (const s of onStop)
      await within(
        s().catch(() => undefined),
        2000,
      );
    process.exit(0);
  };
  handleSignalsYourself();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return app;
}

/** How long a stop may take before the process exits regardless. */
const STOP_DEADLINE_MS = 25_000;

/** Waits for `p`, but no longer than `ms`: a step of the shutdown that hangs must not hold the rest. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.catch(() => undefined),
    new Promise((r) => {
      timer = setTimeout(r, ms);
    }),
  ]);
  clearTimeout(timer);
}

const buildWeb = (platform: { log: { info(m: string): void } } | undefined) =>
  ensureWebBuild({ log: (m) => (platform ? platform.log.info(m) : console.log(m)) });

export async function serveCommand(config: Config, o: { port?: number }): Promise<void> {
  const port = o.port ?? config.httpPort;
  if (isWorker()) {
    // An HTTP worker of a primary (KVALREG_WORKERS): the primary migrated, built and runs the jobs.
    const platform = await startPlatform(config);
    await listen(platform, Number(process.env.KVALREG_WORKER_PORT ?? port), {}, [], { jobs: false });
    return;
  }
  await buildWeb(undefined);
  const platform = await startPlatform(config);
  if (!config.oidc)
    platform.log.warn(
      'No login service configured (KVALREG_OIDC_ISSUER): people cannot log in in the browser; bearer tokens work. See docs/login.md.',
    );
  const workers = workerCount(process.env);
  await listen(platform, port, {}, [], workers > 1 ? { http: false, workers } : {});
}

/**
 * `npm start`: the platform with demo data loaded on first start, the demo users, and — unless an
 * external login service is configured — the local OpenID provider to log in with.
 */
export async function startCommand(config: Config, o: { port?: number }): Promise<void> {
  await buildWeb(undefined);
  // `npm start` is the demo: its patients have synthetic test identity numbers, which a
  // production deployment (`kvalreg serve` without KVALREG_ALLOW_TEST_IDENTITIES) refuses.
  const platform = await startPlatform(demoConfig(config));
  const port = o.port ?? config.httpPort;
  const site = `http://localhost:${port}`;
  let idp: LocalProvider | undefined;
  let oidc: OidcSettings | undefined = config.oidc;
  if (!oidc) {
    // Loaded only here: the provider package prints a notice on Node 20 (docs/login.md), which
    // the other commands need not show.
    const { startLocalProvider, clientKeyPair } = await import('../auth/local-idp.ts');
    // HelseID's profile in development too: private_key_jwt with a key made at start, PAR and DPoP.
    const key = await clientKeyPair();
    idp = await startLocalProvider({
      port: config.localIdpPort,
      host: config.httpHost,
      accounts: DEMO_USERS.map((u) => u.account),
      loginRateLimitPerMinute: config.loginRateLimitPerMinute,
      clients: () => [
        {
          clientId: 'kvalreg-local',
          jwks: { keys: [key.publicJwk] },
          par: true,
          dpop: true,
          redirectUris: [`${site}/auth/callback`],
          postLogoutRedirectUris: [`${site}/`],
        },
      ],
    });
    oidc = {
      issuer: idp.issuer,
      clientId: 'kvalreg-local',
      clientKey: key.privateJwk,
      par: true,
      dpop: true,
      redirectUrl: `${site}/auth/callback`,
      postLogoutRedirectUrl: `${site}/`,
      scopes: DEFAULT_OIDC_SCOPES,
      pidClaim: DEFAULT_PID_CLAIM,
      nameClaim: 'name',
      allowHttpIssuer: true,
    };
  }
  await seedDemoUsers(platform.db.pool);
  await listen(platform, port, { oidc }, idp ? [() => idp.close()] : []);
  // The demo's senders exist once the demo has been loaded.
  const demoLoaded = (await platform.db.pool.query("SELECT 1 FROM api_token WHERE name = 'demo-ehr'")).rowCount! > 0;
  if (!demoLoaded) {
    console.log('First start: generating one year of demo traffic (demo/run.ts) and sending it through the FHIR API …');
    await runDemo(platform, `http://127.0.0.1:${port}`, { years: 1, scale: 1, seed: 2024, concurrency: 6 });
  }
  const patientFile = path.join(platform.config.dataDir, DEMO_PATIENT_FILE);
  if (idp && fs.existsSync(patientFile)) idp.addAccounts([demoPatient(fs.readFileSync(patientFile, 'utf8').trim())]);
  console.log(`\nkvalreg is running at ${site}  (FHIR API: ${site}/fhir)`);
  if (idp) {
    console.log(`Log in at ${site} through the local login service (${idp.issuer}); password "${DEMO_PASSWORD}" for every demo user:`);
    for (const u of [...DEMO_USERS.map((d) => d.account), ...(fs.existsSync(patientFile) ? [demoPatient('')] : [])])
      console.log(`  ${u.username.padEnd(14)} ${u.description}`);
  } else {
    console.log(`Log in at ${site} through ${oidc!.issuer}.`);
  }
  const file = path.join(platform.config.dataDir, 'demo-logins.txt');
  if (fs.existsSync(file)) {
    console.log(`API tokens for the demo senders and users (bearer tokens; also in ${file}):`);
    for (const line of fs.readFileSync(file, 'utf8').trim().split('\n')) console.log(`  ${line.replace('\t', '  ')}`);
  }
}
