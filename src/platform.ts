// Assembles the platform from its parts: database, migrations, units, registries, keys, the door
// to person-level data and the capture inbox. The CLI, the server and the tests all start here.
import path from 'node:path';
import type { Logger } from 'pino';
import { createLogger } from './log/redact.ts';
import { PersonData } from './access/door.ts';
import { Analytics } from './analytics/refresh.ts';
import { Indicators } from './indicators/service.ts';
import { loadAuditKeys, type AuditKeys } from './audit/keys.ts';
import { Reports } from './reports/service.ts';
import { Prom } from './prom/service.ts';
import { Quality } from './quality/service.ts';
import crypto from 'node:crypto';
import { createInbox, type Inbox } from './capture/inbox.ts';
import type { Config } from './config.ts';
import { connectApplicationRole, openDatabase, type Database } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { loadIdentityKeys, type IdentityKeys } from './identity/crypto.ts';
import { loadRegistries, type Registry } from './registry/load.ts';
import { storeRegistryVersions } from './registry/store.ts';
import { loadUnits, readUnitTree } from './units/load.ts';
import type { UnitTree } from './units/tree.ts';

export interface Platform {
  config: Config;
  log: Logger;
  db: Database;
  keys: IdentityKeys;
  /** The audit trail's sealing and witness keys (apart from the identity keys). */
  auditKeys: AuditKeys;
  registries: Registry[];
  registry(id: string): Registry | undefined;
  units: UnitTree;
  data: PersonData;
  inbox: Inbox;
  /** The analytics tables: kept current by the background job `analytics-refresh` (jobs/platform-jobs.ts, in the leading server process), or `refresh()` on demand. */
  analytics: Analytics;
  /** Quality indicators computed from the analytics tables. */
  indicators: Indicators;
  /** Figures, tables, the annual report, and report subscriptions sent by e-mail. */
  reports: Reports;
  /** PROM: the shared instruments, the registries' schedules, invitations and responses. */
  prom: Prom;
  /** Data quality: checks from the codebook, coverage against NPR, follow-up of findings (src/quality/). */
  quality: Quality;
  /** Re-reads the organisation hierarchy after units were added or changed. */
  reloadUnits(): Promise<void>;
  close(): Promise<void>;
}

export async function startPlatform(config: Config, opts: { log?: Logger; poolSize?: number } = {}): Promise<Platform> {
  // Logs never hold identity numbers (log/redact.ts).
  const log = opts.log ?? createLogger(config.logLevel);
  const db = await openDatabase(config, { poolSize: opts.poolSize });
  try {
    await migrate(db.pool, (m) => log.info(m));
    await connectApplicationRole(db, config, { poolSize: opts.poolSize, log: (m) => log.warn(m) });
    const keys = loadIdentityKeys({ env: config.env, keyFile: path.join(config.dataDir, 'keys.json'), log: (m) => log.warn(m) });
    const auditKeys = loadAuditKeys({ env: config.env, dataDir: config.dataDir, identity: keys, log: (m) => log.warn(m) });
    const unitCount = Number((await db.pool.query('SELECT count(*) FROM org_unit')).rows[0].count);
    if (unitCount === 0)
      log.info({ units: await loadUnits(db.pool, config.unitsFile), file: config.unitsFile }, 'loaded organisation units');
    const registries = await loadRegistries(config.registriesDir);
    await storeRegistryVersions(db.pool, registries);
    const units = await readUnitTree(db.pool);
    const data = new PersonData(db.pool, units, db.appPool, db.sharePool);
    // PROM first: the capture pipeline hands it the QuestionnaireResponses it receives.
    const prom = new Prom(data, registries, log.child({ module: 'prom' }), { units, keys, config });
    const inbox = createInbox(
      data,
      { keys, registries, allRegistries: registries, allowTestIdentities: config.allowTestIdentities, afterWrite: prom.capture.hook },
      log,
    );
    const analytics = new Analytics(data, registries, log.child({ module: 'analytics' }), { workers: config.analyticsWorkers });
    await analytics.prepare();
    const indicators = new Indicators(data, db.pool, registries, units, log.child({ module: 'indicators' }), config.analyticsWorkers);
    // The indicator results move with each batch the refresher writes (a new case counts within seconds).
    analytics.observe(indicators.maintainer);
    const reports = new Reports(db, data, registries, indicators, units, config, log.child({ module: 'reports' }));
    // Unsubscribe links are signed with a key derived from the identity hash key: they outlive restarts.
    reports.dispatch.setSecret(Buffer.from(crypto.hkdfSync('sha256', keys.hashKey, Buffer.alloc(0), 'kvalreg report unsubscribe', 32)));
    await reports.prepare();
    await prom.prepare();
    const quality = new Quality(data, registries, units, indicators, log.child({ module: 'quality' }));
    quality.useKeys(keys);
    reports.useQuality(quality);
    const byId = new Map(registries.map((r) => [r.id, r]));
    return {
      config,
      log,
      db,
      keys,
      auditKeys,
      registries,
      units,
      data,
      inbox,
      analytics,
      indicators,
      reports,
      prom,
      quality,
      registry: (id) => byId.get(id),
      reloadUnits: async () => {
        units.reset((await readUnitTree(db.pool)).all());
      },
      close: async () => {
        await prom.stop();
        await reports.dispatch.stop();
        await analytics.stop();
        await db.close();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}
