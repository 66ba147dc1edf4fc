// Runtime configuration from the environment, in one place so every module reads the same values.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
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
  /** Reads of open data (GET of public routes, no credentials sent) per minute per client address: many visitors may share one (a hospital). */
  publicRateLimitPerMinute: number;
  /**
   * Reverse proxies whose X-Forwarded-For is believed (addresses or CIDR ranges). A request from one
   * of them is the client's whose address the header's last untrusted hop names; from anyone else,
   * the header is ignored. Empty: no proxy is trusted, every request is its peer's.
   */
  trustedProxies: string[];
  /** OAuth2 client credentials (JWT access tokens from e.g. HelseID); unset = bearer tokens only. */
  oauth: { issuer: string; jwksUrl: string; audience: string; scope: string; requireDpop: boolean } | undefined;
  /** How often changed cases are written to the analytics tables (milliseconds). */
  analyticsIntervalMs: number;
  /** Connections that share out a backlog of analytics rows (one statement uses one core). */
  /** Milliseconds a streamed download may wait for its client to read on before it is ended (it holds a database transaction). */
  streamStallMs: number;
  analyticsWorkers: number;
  /** OpenID Connect login for people (HelseID in production); unset = no browser login, unless the local provider runs. */
  oidc: OidcSettings | undefined;
  /**
   * A second provider for patients (ID-porten style), beside HelseID for personnel: its logins are
   * patients only, by their pid claim, never a person with grants (KVALREG_PATIENT_OIDC_*).
   */
  patientOidc: OidcSettings | undefined;
  /** Browser sessions: idle and absolute expiry; cookies without `Secure` only when explicitly allowed (local http). */
  session: { idleMinutes: number; maxHours: number; insecureCookies: boolean };
  /** Login attempts (start and callback) per minute per client address. */
  loginRateLimitPerMinute: number;
  /** Port of the local OpenID provider that `kvalreg start` runs when no external issuer is configured. */
  localIdpPort: number;
  /** Where registry definition folders live. */
  registriesDir: string;
  /** Audit events older than this many days are removed by `kvalreg audit prune` (behind a signed checkpoint). */
  auditRetentionDays: number;
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
  /** /health/ready: no leader of the background jobs for this long means not ready (KVALREG_LEADER_STALE_MS). */
  leaderStaleMs: number;
  /** /health/ready: a background job is behind after ten intervals without success, and at least this long (KVALREG_JOB_LAG_LIMIT_MS). */
  jobLagLimitMs: number;
  /** Prometheus /metrics on a port of its own (KVALREG_METRICS_PORT, 0 = off; KVALREG_METRICS_HOST, default HOST). */
  metricsPort: number;
  metricsHost: string;
  /** Delay before the first retry of a failed delivery (doubles each attempt). */
  reportRetryBaseMs: number;
  /**
   * Accept test identity numbers (synthetic month + 80 numbers, and month + 40 numbers sent as a
   * fødselsnummer or D-number). Off unless KVALREG_ALLOW_TEST_IDENTITIES is 1/true: no real
   * patient has one, so in production they are refused. The demo (`kvalreg start`, `kvalreg
   * demo`), the tests and the benchmarks turn it on.
   */
  allowTestIdentities: boolean;
}

export interface OidcSettings {
  issuer: string;
  clientId: string;
  /** client_secret_post (development, the local provider's default). Either this or `clientKey`. */
  clientSecret?: string;
  /**
   * private_key_jwt (RFC 7523), as HelseID requires: the client's private key as a JWK (with its
   * `kid` and `alg`), whose public half is registered with the provider.
   */
  clientKey?: Record<string, unknown>;
  /** Pushed authorization requests (RFC 9126): the login's parameters go to the provider server to server. */
  par: boolean;
  /** DPoP (RFC 9449): the provider's tokens for the platform are bound to a key only this process holds. */
  dpop: boolean;
  /** Where the provider sends the browser back: https://<host>/auth/callback. */
  redirectUrl: string;
  /** Where the provider sends the browser after logout at the provider; default: the site's root. */
  postLogoutRedirectUrl: string;
  scopes: string;
  /** The claim with the national identity number (HelseID: helseid://claims/identity/pid). */
  pidClaim: string;
  nameClaim: string;
  /** Allow an http issuer (the local provider); never for a real one. */
  allowHttpIssuer: boolean;
}

export const DEFAULT_OIDC_SCOPES = 'openid profile helseid://scopes/identity/pid';
export const DEFAULT_PID_CLAIM = 'helseid://claims/identity/pid';

/** ID-porten's defaults: the identity number is the `pid` claim, asked for with the `openid profile` scopes. */
export const PATIENT_OIDC_DEFAULTS = { prefix: 'KVALREG_PATIENT_OIDC_', scopes: 'openid profile', pidClaim: 'pid' };

export function oidcFromEnv(
  env: NodeJS.ProcessEnv,
  o: { prefix: string; scopes: string; pidClaim: string } = {
    prefix: 'KVALREG_OIDC_',
    scopes: DEFAULT_OIDC_SCOPES,
    pidClaim: DEFAULT_PID_CLAIM,
  },
): OidcSettings | undefined {
  // The same settings under another prefix for the patients' provider: read them by suffix.
  env = Object.fromEntries(
    Object.entries(env)
      .filter(([k]) => k.startsWith(o.prefix))
      .map(([k, v]) => [`KVALREG_OIDC_${k.slice(o.prefix.length)}`, v]),
  );
  const named = (msg: string) => (o.prefix === 'KVALREG_OIDC_' ? msg : msg.replaceAll('KVALREG_OIDC_', o.prefix));
  try {
    return oidcFromPrefixed(env, o);
  } catch (err) {
    throw new Error(named((err as Error).message));
  }
}

function oidcFromPrefixed(env: NodeJS.ProcessEnv, o: { scopes: string; pidClaim: string }): OidcSettings | undefined {
  const issuer = env.KVALREG_OIDC_ISSUER;
  if (!issuer) return undefined;
  const missing = ['KVALREG_OIDC_CLIENT_ID', 'KVALREG_OIDC_REDIRECT_URL'].filter((n) => !env[n]);
  if (!env.KVALREG_OIDC_CLIENT_SECRET && !env.KVALREG_OIDC_CLIENT_KEY && !env.KVALREG_OIDC_CLIENT_KEY_FILE)
    missing.push('KVALREG_OIDC_CLIENT_KEY (or KVALREG_OIDC_CLIENT_KEY_FILE, or KVALREG_OIDC_CLIENT_SECRET)');
  if (missing.length) throw new Error(`KVALREG_OIDC_ISSUER is set, so ${missing.join(', ')} must be set too (see docs/login.md)`);
  const clientKey = clientKeyFromEnv(env);
  const redirectUrl = env.KVALREG_OIDC_REDIRECT_URL!;
  let origin: string;
  try {
    origin = new URL(redirectUrl).origin;
  } catch {
    throw new Error(
      `KVALREG_OIDC_REDIRECT_URL must be an absolute URL such as https://kvalreg.example.no/auth/callback, got "${redirectUrl}"`,
    );
  }
  return {
    issuer,
    clientId: env.KVALREG_OIDC_CLIENT_ID!,
    redirectUrl,
    ...(clientKey ? { clientKey } : { clientSecret: env.KVALREG_OIDC_CLIENT_SECRET! }),
    par: boolEnv(env, 'KVALREG_OIDC_PAR'),
    dpop: boolEnv(env, 'KVALREG_OIDC_DPOP'),
    postLogoutRedirectUrl: env.KVALREG_OIDC_POST_LOGOUT_URL ?? `${origin}/`,
    scopes: env.KVALREG_OIDC_SCOPES ?? o.scopes,
    pidClaim: env.KVALREG_OIDC_PID_CLAIM ?? o.pidClaim,
    nameClaim: env.KVALREG_OIDC_NAME_CLAIM ?? 'name',
    allowHttpIssuer: env.KVALREG_OIDC_ALLOW_HTTP === '1' || env.KVALREG_OIDC_ALLOW_HTTP === 'true',
  };
}

/** The private_key_jwt key: a private JWK in KVALREG_OIDC_CLIENT_KEY, or in the file KVALREG_OIDC_CLIENT_KEY_FILE. */
function clientKeyFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  const file = env.KVALREG_OIDC_CLIENT_KEY_FILE;
  const text = env.KVALREG_OIDC_CLIENT_KEY || (file ? readKeyFile(file) : undefined);
  if (!text) return undefined;
  const where = env.KVALREG_OIDC_CLIENT_KEY ? 'KVALREG_OIDC_CLIENT_KEY' : `KVALREG_OIDC_CLIENT_KEY_FILE (${file})`;
  let jwk: Record<string, unknown>;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw new Error(
      `${where} is not JSON: it must be the client's private key as a JWK, e.g. {"kty":"EC","crv":"P-256","d":"…","x":"…","y":"…","kid":"…","alg":"ES256"}`,
    );
  }
  if (!jwk || typeof jwk !== 'object' || typeof jwk.kty !== 'string' || typeof jwk.d !== 'string')
    throw new Error(`${where} must be a private key as a JWK (with "kty" and the private part "d")`);
  if (typeof jwk.kid !== 'string' || typeof jwk.alg !== 'string')
    throw new Error(`${where} must name its "kid" (as registered with the provider) and its "alg" (e.g. RS256, PS256, ES256)`);
  return jwk;
}

function readKeyFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`KVALREG_OIDC_CLIENT_KEY_FILE: cannot read ${file}: ${(err as Error).message}`);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const root = projectRoot();
  const dataDir = path.resolve(env.KVALREG_DATA_DIR ?? path.join(root, 'var'));
  return {
    env,
    databaseUrl: env.DATABASE_URL || undefined,
    databaseAppUrl: env.DATABASE_APP_URL || undefined,
    oauth: env.KVALREG_OAUTH_ISSUER
      ? {
          issuer: env.KVALREG_OAUTH_ISSUER,
          jwksUrl: env.KVALREG_OAUTH_JWKS_URL ?? `${env.KVALREG_OAUTH_ISSUER.replace(/\/$/, '')}/.well-known/jwks.json`,
          audience: env.KVALREG_OAUTH_AUDIENCE ?? 'kvalreg',
          scope: env.KVALREG_OAUTH_SCOPE ?? 'kvalreg/capture',
          requireDpop: boolEnv(env, 'KVALREG_OAUTH_REQUIRE_DPOP'),
        }
      : undefined,
    oidc: oidcFromEnv(env),
    patientOidc: oidcFromEnv(env, PATIENT_OIDC_DEFAULTS),
    session: {
      idleMinutes: intEnv(env, 'KVALREG_SESSION_IDLE_MINUTES', 30) || 30,
      maxHours: intEnv(env, 'KVALREG_SESSION_MAX_HOURS', 12) || 12,
      insecureCookies: env.KVALREG_INSECURE_COOKIES === '1' || env.KVALREG_INSECURE_COOKIES === 'true',
    },
    loginRateLimitPerMinute: intEnv(env, 'KVALREG_LOGIN_RATE_LIMIT', 30),
    localIdpPort: intEnv(env, 'KVALREG_LOCAL_IDP_PORT', intEnv(env, 'PORT', 3000) + 1),
    rateLimitPerMinute: intEnv(env, 'KVALREG_RATE_LIMIT', 60_000),
    analyticsIntervalMs: intEnv(env, 'KVALREG_ANALYTICS_INTERVAL_MS', 2000),
    // The cores of this machine (the embedded server's); a database server of its own has its own count.
    streamStallMs: intEnv(env, 'KVALREG_STREAM_STALL_MS', 30_000),
    analyticsWorkers: intEnv(env, 'KVALREG_ANALYTICS_WORKERS', Math.min(4, os.availableParallelism())) || 1,
    anonymousRateLimitPerMinute: intEnv(env, 'KVALREG_ANONYMOUS_RATE_LIMIT', 120),
    publicRateLimitPerMinute: intEnv(env, 'KVALREG_PUBLIC_RATE_LIMIT', 3000),
    trustedProxies: addressListEnv(env, 'KVALREG_TRUSTED_PROXIES'),
    dataDir,
    embeddedPgPort: intEnv(env, 'KVALREG_PG_PORT', 54329),
    httpPort: intEnv(env, 'PORT', 3000),
    httpHost: env.HOST ?? '127.0.0.1',
    metricsHost: env.KVALREG_METRICS_HOST ?? env.HOST ?? '127.0.0.1',
    logLevel: env.LOG_LEVEL ?? 'info',
    auditRetentionDays: positiveIntEnv(env, 'KVALREG_AUDIT_RETENTION_DAYS', AUDIT_RETENTION_DAYS_DEFAULT),
    registriesDir: path.resolve(env.KVALREG_REGISTRIES_DIR ?? path.join(root, 'registries')),
    unitsFile: path.resolve(env.KVALREG_UNITS_FILE ?? path.join(root, 'demo', 'units.yaml')),
    populationFile: path.resolve(env.KVALREG_POPULATION_FILE ?? path.join(root, 'demo', 'population.csv')),
    smtpUrl: env.KVALREG_SMTP_URL || undefined,
    mailFrom: env.KVALREG_MAIL_FROM ?? 'kvalreg <noreply@kvalreg.invalid>',
    publicUrl: (env.KVALREG_PUBLIC_URL ?? `http://localhost:${env.PORT ?? 3000}`).replace(/\/$/, ''),
    reportIntervalMs: intEnv(env, 'KVALREG_REPORT_INTERVAL_MS', 60_000),
    leaderStaleMs: intEnv(env, 'KVALREG_LEADER_STALE_MS', 30_000),
    jobLagLimitMs: intEnv(env, 'KVALREG_JOB_LAG_LIMIT_MS', 120_000),
    metricsPort: intEnv(env, 'KVALREG_METRICS_PORT', 9464),
    reportRetryBaseMs: intEnv(env, 'KVALREG_REPORT_RETRY_BASE_MS', 5 * 60_000),
    allowTestIdentities: boolEnv(env, 'KVALREG_ALLOW_TEST_IDENTITIES'),
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

/** "10.0.0.5, 10.1.0.0/16, ::1": addresses and CIDR ranges, each checked, so a typo is an error at start, not a proxy trusted by accident or not at all. */
function addressListEnv(env: NodeJS.ProcessEnv, name: string): string[] {
  const list = (env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of list) {
    const [address, prefix, ...rest] = entry.split('/');
    const family = net.isIP(address);
    const bits = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
    if (!family || !prefixOk || rest.length)
      throw new Error(`${name}: "${entry}" is not an IP address or a CIDR range (e.g. 10.0.0.5 or 10.1.0.0/16)`);
  }
  return list;
}

function boolEnv(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw === '' || raw === '0' || raw === 'false' || raw === 'no') return false;
  if (raw === '1' || raw === 'true' || raw === 'yes') return true;
  throw new Error(`${name} must be 1 or 0 (true or false), got "${env[name]}"`);
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
