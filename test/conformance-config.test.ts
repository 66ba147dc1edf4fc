// Settings for the proxy and HelseID's profile are checked at start: a typo stops the start with a
// message saying what is expected, rather than trusting a proxy by accident or logging in without
// the key the provider expects.
import { describe, expect, it } from 'vitest';
import { loadConfig, oidcFromEnv, PATIENT_OIDC_DEFAULTS } from '../src/config.ts';

const base = {
  KVALREG_OIDC_ISSUER: 'https://helseid-sts.test.nhn.no',
  KVALREG_OIDC_CLIENT_ID: 'kvalreg',
  KVALREG_OIDC_REDIRECT_URL: 'https://kvalreg.example.no/auth/callback',
};
const key = { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd', kid: 'k1', alg: 'ES256' };

describe('KVALREG_TRUSTED_PROXIES', () => {
  it('takes addresses and CIDR ranges, IPv4 and IPv6', () => {
    expect(loadConfig({ KVALREG_TRUSTED_PROXIES: '10.0.0.5, 10.1.0.0/16,::1, fd00::/8' }).trustedProxies).toEqual([
      '10.0.0.5',
      '10.1.0.0/16',
      '::1',
      'fd00::/8',
    ]);
    expect(loadConfig({}).trustedProxies).toEqual([]);
  });
  it('refuses what is not an address or a range', () => {
    for (const bad of ['proxy.example.no', '10.0.0.0/33', '10.0.0.256', '10.0.0.0/8/8', '::1/129', '*']) {
      expect(() => loadConfig({ KVALREG_TRUSTED_PROXIES: bad }), bad).toThrow(
        /KVALREG_TRUSTED_PROXIES: .* is not an IP address or a CIDR range/,
      );
    }
  });
});

describe("HelseID's profile", () => {
  it('reads a private key, PAR and DPoP; the key wins over a secret', () => {
    const s = oidcFromEnv({
      ...base,
      KVALREG_OIDC_CLIENT_KEY: JSON.stringify(key),
      KVALREG_OIDC_CLIENT_SECRET: 'x',
      KVALREG_OIDC_PAR: '1',
      KVALREG_OIDC_DPOP: 'true',
    })!;
    expect(s).toMatchObject({ clientKey: key, par: true, dpop: true });
    expect(s.clientSecret).toBeUndefined();
  });
  it('wants a key or a secret, and a key that is a private JWK with kid and alg', () => {
    expect(() => oidcFromEnv(base)).toThrow(/KVALREG_OIDC_CLIENT_KEY/);
    expect(() => oidcFromEnv({ ...base, KVALREG_OIDC_CLIENT_KEY: 'not json' })).toThrow(/is not JSON/);
    const { d: _d, ...publicOnly } = key;
    expect(() => oidcFromEnv({ ...base, KVALREG_OIDC_CLIENT_KEY: JSON.stringify(publicOnly) })).toThrow(/private key as a JWK/);
    const { kid: _kid, ...noKid } = key;
    expect(() => oidcFromEnv({ ...base, KVALREG_OIDC_CLIENT_KEY: JSON.stringify(noKid) })).toThrow(/"kid"/);
    expect(() => oidcFromEnv({ ...base, KVALREG_OIDC_CLIENT_KEY_FILE: '/nonexistent/key.json' })).toThrow(
      /cannot read \/nonexistent\/key.json/,
    );
  });
  it("reads the patients' provider under its own prefix, with ID-porten's defaults, naming its own variables", () => {
    const env = Object.fromEntries(
      Object.entries({ ...base, KVALREG_OIDC_CLIENT_KEY: JSON.stringify(key) }).map(([k, v]) => [
        k.replace('KVALREG_OIDC_', 'KVALREG_PATIENT_OIDC_'),
        v,
      ]),
    );
    expect(oidcFromEnv(env, PATIENT_OIDC_DEFAULTS)).toMatchObject({ clientId: 'kvalreg', scopes: 'openid profile', pidClaim: 'pid' });
    expect(oidcFromEnv(env)).toBeUndefined(); // not personnel's
    expect(() => oidcFromEnv({ KVALREG_PATIENT_OIDC_ISSUER: 'https://idporten.no' }, PATIENT_OIDC_DEFAULTS)).toThrow(
      /KVALREG_PATIENT_OIDC_ISSUER is set, so KVALREG_PATIENT_OIDC_CLIENT_ID/,
    );
    expect(loadConfig({ KVALREG_OAUTH_ISSUER: 'https://helseid-sts.nhn.no', KVALREG_OAUTH_REQUIRE_DPOP: '1' }).oauth?.requireDpop).toBe(
      true,
    );
  });
});
