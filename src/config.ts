// Runtime configuration from the environment, in one place so every module reads the same values.
import path from 'node:path';

export interface Config {
  /** Any PostgreSQL 15+; when unset an embedded server is started from `dataDir`. */
  databaseUrl: string | undefined;
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
  /** Organisation hierarchy file loaded at start when the unit table is empty. */
  unitsFile: string;
  /** Population by municipality, age group and sex (incidence), loaded at start when the table is empty. */
  populationFile: string;
  /** Report e-mail: SMTP server URL (smtp://user:pass@host:port), sender address, and the public base URL for unsubscribe links. */
  smtpUrl: string | undefined;
  mailFrom: string;
  publicUrl: string;
  /** How often the report dispatcher looks for due subscriptions and jobs (milliseconds; 0 = not started by the server). */
  reportIntervalMs: number;
  /** Delay before the first retry of a failed delivery (doubles each attempt). */
  reportRetryBaseMs: number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const root = projectRoot();
  const dataDir = path.resolve(env.KVALREG_DATA_DIR ?? path.join(root, 'var'));
  return {
    env,
    databaseUrl: env.DATABASE_URL || undefined,
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
    registriesDir: path.resolve(env.KVALREG_REGISTRIES_DIR ?? path.join(root, 'registries')),
    unitsFile: path.resolve(env.KVALREG_UNITS_FILE ?? path.join(root, 'demo', 'units.yaml')),
    populationFile: path.resolve(env.KVALREG_POPULATION_FILE ?? path.join(root, 'demo', 'population.csv')),
    smtpUrl: env.KVALREG_SMTP_URL || undefined,
    mailFrom: env.KVALREG_MAIL_FROM ?? 'kvalreg <noreply@kvalreg.invalid>',
    publicUrl: (env.KVALREG_PUBLIC_URL ?? `http://localhost:${env.PORT ?? 3000}`).replace(/\/$/, ''),
    reportIntervalMs: intEnv(env, 'KVALREG_REPORT_INTERVAL_MS', 60_000),
    reportRetryBaseMs: intEnv(env, 'KVALREG_REPORT_RETRY_BASE_MS', 5 * 60_000),
  };
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
