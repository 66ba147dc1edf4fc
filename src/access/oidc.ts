// OpenID Connect login for people: the authorization code flow with PKCE, state and nonce, against
// a HelseID-style provider (or the local provider in development and tests), via openid-client.
// This module only speaks to the provider; who may do what is decided by our own user store.
import * as oidc from 'openid-client';
import type { OidcSettings } from '../config.ts';

export class LoginError extends Error {
  constructor(message: string, readonly reason: string) { super(message); }
}

export interface LoginIdentity {
  subject: string;
  name: string;
  /** The national identity number from the pid claim, as the provider gave it. */
  pid: string | null;
  idToken: string | undefined;
}

export class OidcLogin {
  private config: Promise<oidc.Configuration> | undefined;
  constructor(readonly settings: OidcSettings) {}

  /** Discovers the provider on first use (and again after a failure: the provider may start later). */
  private configuration(): Promise<oidc.Configuration> {
    if (!this.config) {
      const s = this.settings;
      this.config = oidc.discovery(new URL(s.issuer), s.clientId, s.clientSecret, undefined,
        s.allowHttpIssuer ? { execute: [oidc.allowInsecureRequests] } : undefined);
      this.config.catch(() => { this.config = undefined; });
    }
    return this.config.catch((err) => {
      throw new LoginError(`The login service (${this.settings.issuer}) cannot be reached: ${(err as Error).message}. Try again in a moment; if it persists, contact the registry.`, 'provider-unreachable');
    });
  }

  /** The provider's URL to send the browser to, with the values to check when it comes back. */
  async begin(): Promise<{ url: string; state: string; nonce: string; codeVerifier: string }> {
    const config = await this.configuration();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.settings.redirectUrl, scope: this.settings.scopes, response_type: 'code',
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256', state, nonce,
    });
    return { url: url.href, state, nonce, codeVerifier };
  }

  /** Completes the flow with the query the provider sent back; checks state, nonce, PKCE and the ID token. */
  async complete(query: string, checks: { state: string; nonce: string; codeVerifier: string }): Promise<LoginIdentity> {
    const config = await this.configuration();
    const current = new URL(this.settings.redirectUrl);
    current.search = query;
    const error = current.searchParams.get('error');
    if (error) {
      const description = current.searchParams.get('error_description');
      throw new LoginError(error === 'access_denied'
        ? 'The login was cancelled or refused at the login service.'
        : `The login service answered "${error}"${description ? `: ${description}` : ''}.`, `provider:${error}`);
    }
    let tokens;
    try {
      tokens = await oidc.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: checks.codeVerifier, expectedState: checks.state, expectedNonce: checks.nonce, idTokenExpected: true,
      });
    } catch (err) {
      const e = err as Error & { code?: string; error?: string };
      throw new LoginError(`The login could not be completed (${e.error ?? e.code ?? 'invalid response'}): ${e.message}`, `callback:${e.error ?? e.code ?? 'invalid'}`);
    }
    const claims: Record<string, unknown> = { ...tokens.claims() };
    const subject = String(claims.sub);
    // Claims the ID token does not carry are asked for at the userinfo endpoint (same subject only).
    if ((claims[this.settings.nameClaim] === undefined || claims[this.settings.pidClaim] === undefined) && tokens.access_token && config.serverMetadata().userinfo_endpoint) {
      try {
        Object.assign(claims, await oidc.fetchUserInfo(config, tokens.access_token, subject), { sub: subject });
      } catch { /* the ID token's claims stand */ }
    }
    const pid = claims[this.settings.pidClaim];
    const name = claims[this.settings.nameClaim] ?? [claims.given_name, claims.family_name].filter(Boolean).join(' ');
    return { subject, name: String(name || subject), pid: typeof pid === 'string' && pid ? pid : null, idToken: tokens.id_token };
  }

  /** The provider's logout URL (RP-initiated logout), when it has an end_session_endpoint. */
  async logoutUrl(idToken: string | undefined): Promise<string | null> {
    let config: oidc.Configuration;
    try { config = await this.configuration(); } catch { return null; }
    if (!config.serverMetadata().end_session_endpoint) return null;
    return oidc.buildEndSessionUrl(config, {
      post_logout_redirect_uri: this.settings.postLogoutRedirectUrl,
      ...(idToken ? { id_token_hint: idToken } : { client_id: this.settings.clientId }),
    }).href;
  }
}
