// OpenID Connect login for people: the authorization code flow with PKCE, state and nonce, against
// a HelseID-style provider (or the local provider in development and tests), via openid-client.
// This module only speaks to the provider; who may do what is decided by our own user store.
//
// HelseID's profile is switched on by configuration: private_key_jwt client authentication
// (`clientKey`), pushed authorization requests (`par`, or whenever the provider requires them),
// and DPoP-bound tokens (`dpop`) with a key pair made at start that never leaves the process.
import { importJWK } from 'jose';
import * as oidc from 'openid-client';
import type { OidcSettings } from '../config.ts';
import { KvalregError } from '../errors.ts';

/** A login that could not be completed: the provider refused or answered wrongly (the login routes show it). */
export class LoginError extends KvalregError {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super('unauthenticated', message);
  }
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
  /** The DPoP key pair of this process (made on first use): the provider's tokens are bound to it. */
  private dpopKeys: ReturnType<typeof oidc.randomDPoPKeyPair> | undefined;
  constructor(readonly settings: OidcSettings) {}

  /** DPoP options for openid-client's requests to the provider, when DPoP is on. */
  private async dpop(config: oidc.Configuration): Promise<{ DPoP?: oidc.DPoPHandle }> {
    if (!this.settings.dpop) return {};
    this.dpopKeys ??= oidc.randomDPoPKeyPair('ES256');
    return { DPoP: oidc.getDPoPHandle(config, await this.dpopKeys) };
  }

  /** How the platform authenticates to the provider's token endpoint: a signed assertion (private_key_jwt) or the secret. */
  private async clientAuth(): Promise<oidc.ClientAuth> {
    const s = this.settings;
    if (!s.clientKey) return oidc.ClientSecretPost(s.clientSecret!);
    const key = await importJWK(s.clientKey as never, String(s.clientKey.alg));
    return oidc.PrivateKeyJwt({
      key: key as Extract<Parameters<typeof oidc.PrivateKeyJwt>[0], { kid?: string }>['key'],
      kid: String(s.clientKey.kid),
    });
  }

  /** Discovers the provider on first use (and again after a failure: the provider may start later). */
  private configuration(): Promise<oidc.Configuration> {
    if (!this.config) {
      const s = this.settings;
      this.config = this.clientAuth().then((auth) =>
        oidc.discovery(
          new URL(s.issuer),
          s.clientId,
          s.clientKey ? { token_endpoint_auth_signing_alg: String(s.clientKey.alg) } : undefined,
          auth,
          s.allowHttpIssuer ? { execute: [oidc.allowInsecureRequests] } : undefined,
        ),
      );
      this.config.catch(() => {
        this.config = undefined;
      });
    }
    return this.config.catch((err) => {
      throw new LoginError(
        `The login service (${this.settings.issuer}) cannot be reached: ${(err as Error).message}. Try again in a moment; if it persists, contact the registry.`,
        'provider-unreachable',
      );
    });
  }

  /** The provider's URL to send the browser to, with the values to check when it comes back. */
  async begin(): Promise<{ url: string; state: string; nonce: string; codeVerifier: string }> {
    const config = await this.configuration();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const parameters = {
      redirect_uri: this.settings.redirectUrl,
      scope: this.settings.scopes,
      response_type: 'code',
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    };
    let url: URL;
    if (this.settings.par || config.serverMetadata().require_pushed_authorization_requests) {
      // The parameters go to the provider server to server (authenticated as above, DPoP-bound when
      // on); the browser carries only the request_uri.
      try {
        url = await oidc.buildAuthorizationUrlWithPAR(config, parameters, await this.dpop(config));
      } catch (err) {
        const e = err as Error & { error?: string; code?: string; error_description?: string };
        throw new LoginError(
          `The login service refused the login request (${e.error ?? e.code ?? 'pushed authorization request'}): ${e.error_description ?? e.message}. Try again; if it persists, contact the registry.`,
          `par:${e.error ?? e.code ?? 'failed'}`,
        );
      }
    } else {
      url = oidc.buildAuthorizationUrl(config, parameters);
    }
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
      throw new LoginError(
        error === 'access_denied'
          ? 'The login was cancelled or refused at the login service.'
          : `The login service answered "${error}"${description ? `: ${description}` : ''}.`,
        `provider:${error}`,
      );
    }
    let tokens;
    try {
      tokens = await oidc.authorizationCodeGrant(
        config,
        current,
        {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          idTokenExpected: true,
        },
        undefined,
        await this.dpop(config),
      );
    } catch (err) {
      // The provider's own words (error_description) say what was wrong, e.g. a missing DPoP proof.
      const e = err as Error & { code?: string; error?: string; error_description?: string };
      throw new LoginError(
        `The login could not be completed (${e.error ?? e.code ?? 'invalid response'}): ${String(e.error_description ?? e.message).replace(/\.?$/, '.')}`,
        `callback:${e.error ?? e.code ?? 'invalid'}`,
      );
    }
    const claims: Record<string, unknown> = { ...tokens.claims() };
    const subject = String(claims.sub);
    // Claims the ID token does not carry are asked for at the userinfo endpoint (same subject only).
    if (
      (claims[this.settings.nameClaim] === undefined || claims[this.settings.pidClaim] === undefined) &&
      tokens.access_token &&
      config.serverMetadata().userinfo_endpoint
    ) {
      try {
        Object.assign(claims, await oidc.fetchUserInfo(config, tokens.access_token, subject, await this.dpop(config)), { sub: subject });
      } catch {
        /* the ID token's claims stand */
      }
    }
    const pid = claims[this.settings.pidClaim];
    const name = claims[this.settings.nameClaim] ?? [claims.given_name, claims.family_name].filter(Boolean).join(' ');
    return { subject, name: String(name || subject), pid: typeof pid === 'string' && pid ? pid : null, idToken: tokens.id_token };
  }

  /** The provider's logout URL (RP-initiated logout), when it has an end_session_endpoint. */
  async logoutUrl(idToken: string | undefined): Promise<string | null> {
    let config: oidc.Configuration;
    try {
      config = await this.configuration();
    } catch {
      return null;
    }
    if (!config.serverMetadata().end_session_endpoint) return null;
    return oidc.buildEndSessionUrl(config, {
      post_logout_redirect_uri: this.settings.postLogoutRedirectUrl,
      ...(idToken ? { id_token_hint: idToken } : { client_id: this.settings.clientId }),
    }).href;
  }
}
