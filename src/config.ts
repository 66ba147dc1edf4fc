// Runtime configuration from the environment, in one place so every module reads the same values.
import path from 'node:path';

export interface Config {
  /** Any PostgreSQL 15+; when unset an embedded server is started from `dataDir`. */
  databaseUrl: string | undefined;
  /** The application's own login (a member of kvalreg_app only) for work under row-level security. */
  databaseAppUrl: string | undefined;
  /** Local state: embedded PostgreSQL data, key file. Git-ignored. */
  dataDir: string;
  embeddedPgPort: number;
  httpPort: number;
  httpHost: string;
  logLevel: string;
  /** The environment the configuration was read from (also holds the identity keys, if given there). */
  env: NodeJS.ProcessEnv;
  /** Requests per minute per authenticated caller (a sending system or user); 0 = no limit. */
  rateLimitPerMinute: number;
  /** Requests per minute per client address without valid credentials. */
  anonymousRateLimitPerMinute: number;
  /** OAuth2 client credentials (JWT access tokens from e.g. HelseID); unset = bearer tokens only. */
  oauth: { issuer: string; jwksUrl: string; audience: string; scope: string } | undefined;
  /** How often changed cases are written to the analytics tables (milliseconds). */
  analyticsIntervalMs: number;
  /** Where registry definition folders live. */
  registriesDir: string;
  /** Audit events older than this many days are removed by `kvalreg audit prune` (behind a signed checkpoint). */
  auditRetentionDays: number;
  /** Organisation hierarchy file loaded at start when the unit table is empty. */
  unitsFile: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const root = projectRoot();
  const dataDir = path.resolve(env.KVALREG_DATA_DIR ?? path.join(root, 'var'));
  return {
    env,
    databaseUrl: env.DATABASE_URL || undefined,
    databaseAppUrl: env.DATABASE_APP_URL || undefined,
    oauth: env.KVALREG_OAUTH_ISSUER ? {
      issuer: env.KVALREG_OAUTH_ISSUER,
      jwksUrl: env.KVALREG_OAUTH_JWKS_URL ?? `${env.KVALREG_OAUTH_ISSUER.replace(/\/$/, '')}/.well-known/jwks.json`,
      audience: env.KVALREG_OAUTH_AUDIENCE ?? 'kvalreg',
      scope: env.KVALREG_OAUTH_SCOPE ?? 'kvalreg/capture',
    } : undefined,
    rateLimitPerMinute: intEnv(env, 'KVALREG_RATE_LIMIT', 60_000),
    analyticsIntervalMs: intEnv(env, 'KVALREG_ANALYTICS_INTERVAL_MS', 2000),
    anonymousRateLimitPerMinute: intEnv(env, 'KVALREG_ANONYMOUS_RATE_LIMIT', 120),
    dataDir,
    embeddedPgPort: intEnv(env, 'KVALREG_PG_PORT', 54329),
    httpPort: intEnv(env, 'PORT', 3000),
    httpHost: env.HOST ?? '127.0.0.1',
    logLevel: env.LOG_LEVEL ?? 'info',
    auditRetentionDays: positiveIntEnv(env, 'KVALREG_AUDIT_RETENTION_DAYS', AUDIT_RETENTION_DAYS_DEFAULT),
    registriesDir: path.resolve(env.KVALREG_REGISTRIES_DIR ?? path.join(root, 'registries')),
    unitsFile: path.resolve(env.KVALREG_UNITS_FILE ?? path.join(root, 'demo', 'units.yaml')),
  };
}

/**
 * Ten years. The domain material names no period for access logs; the trail is what a patient
 * sees in innsyn of who looked at their data, so it is kept at least as long as registrations
 * are commonly kept under review, and the data controller sets the period that applies.
 */
export const AUDIT_RETENTION_DAYS_DEFAULT = 3650;

function positiveIntEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const n = intEnv(env, name, fallback);
  if (n < 1) throw new Error(`${name} must be 1 or more (days)`);
  return n;
}

function intEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got "${raw}"`);
  return n;
}

export function projectRoot(): string {
  return path.resolve(import.meta.dirname, '..');
}
