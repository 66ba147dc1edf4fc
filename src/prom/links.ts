// The secret in an invitation's link, and the one-time code printed on paper or given to a proxy
// (a parent answering for a child). Both are derived from the invitation's id with a key of the
// platform's own (HMAC), so nothing secret is stored and a reminder carries the same link.
import crypto from 'node:crypto';

export class InvitationLinks {
  constructor(private readonly key: Buffer) {}

  token(invitationId: number): string {
    return `${invitationId}.${this.mac(`link:${invitationId}`).subarray(0, 18).toString('base64url')}`;
  }

  /** The invitation a link token names, or null for a token that is not one of ours. */
  verify(token: string): number | null {
    const m = /^(\d{1,18})\.([A-Za-z0-9_-]{24})$/.exec(String(token ?? ''));
    if (!m) return null;
    const id = Number(m[1]);
    const expected = Buffer.from(this.token(id).split('.')[1]);
    return crypto.timingSafeEqual(expected, Buffer.from(m[2])) ? id : null;
  }

  /** Eight characters without look-alikes (no 0/O, 1/I/L), in two groups of four. */
  code(invitationId: number): string {
    const alphabet = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
    const bytes = this.mac(`code:${invitationId}`);
    const chars = Array.from({ length: 8 }, (_, i) => alphabet[bytes[i] % alphabet.length]);
    return `${chars.slice(0, 4).join('')}-${chars.slice(4).join('')}`;
  }

  checkCode(invitationId: number, code: string): boolean {
    const given = Buffer.from(
      String(code ?? '')
        .toUpperCase()
        .replace(/[^A-Z0-9]/g, ''),
    );
    const expected = Buffer.from(this.code(invitationId).replace('-', ''));
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  }

  private mac(what: string): Buffer {
    return crypto.createHmac('sha256', this.key).update(what).digest();
  }
}
