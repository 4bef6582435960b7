/**
 * SASL PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login) as used by SMTP
 * AUTH (RFC 4954). Pure: a step function over the exchange state; the edge sends
 * the 334 challenges and verifies the credentials.
 */

export type Mechanism = 'PLAIN' | 'LOGIN';
export const mechanisms: readonly Mechanism[] = ['PLAIN', 'LOGIN'];

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** Exchange state kept between lines. */
export type SaslState =
  | { readonly step: 'plain-response' }
  | { readonly step: 'login-user' }
  | { readonly step: 'login-password'; readonly user: string };

export type SaslStep =
  /** Send `334 <challenge>` and wait for the next line in `state`. */
  | { readonly kind: 'challenge'; readonly challenge: string; readonly state: SaslState }
  | {
      readonly kind: 'credentials';
      readonly mechanism: Mechanism;
      readonly credentials: Credentials;
    }
  | { readonly kind: 'error'; readonly error: 'mechanism' | 'syntax' | 'cancelled' };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const USERNAME_B64 = Buffer.from('Username:').toString('base64');
const PASSWORD_B64 = Buffer.from('Password:').toString('base64');

/** Strict base64 to UTF-8; undefined when not valid base64 or not valid UTF-8. */
export function decodeBase64(s: string): string | undefined {
  if (!BASE64.test(s)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(s, 'base64'));
  } catch {
    return undefined;
  }
}

function plain(response: string): SaslStep {
  const decoded = decodeBase64(response);
  if (decoded === undefined) return { kind: 'error', error: 'syntax' };
  // message = [authzid] NUL authcid NUL passwd
  const parts = decoded.split('\0');
  if (parts.length !== 3) return { kind: 'error', error: 'syntax' };
  const [authzid = '', user = '', password = ''] = parts;
  if (user === '' || password === '') return { kind: 'error', error: 'syntax' };
  // Acting as another identity is not supported: authzid must be empty or the user.
  if (authzid !== '' && authzid !== user) return { kind: 'error', error: 'syntax' };
  return { kind: 'credentials', mechanism: 'PLAIN', credentials: { user, password } };
}

/** Starts an exchange from `AUTH <mechanism> [initial-response]`. */
export function saslStart(args: string): SaslStep {
  const [mech = '', initial, ...rest] = args.trim().split(/\s+/);
  if (rest.length > 0) return { kind: 'error', error: 'syntax' };
  switch (mech.toUpperCase()) {
    case 'PLAIN':
      // RFC 4954 §4: "=" is an empty initial response.
      if (initial === undefined || initial === '=') {
        return { kind: 'challenge', challenge: '', state: { step: 'plain-response' } };
      }
      return plain(initial);
    case 'LOGIN': {
      if (initial === undefined) {
        return { kind: 'challenge', challenge: USERNAME_B64, state: { step: 'login-user' } };
      }
      const user = decodeBase64(initial);
      if (user === undefined || user === '') return { kind: 'error', error: 'syntax' };
      return {
        kind: 'challenge',
        challenge: PASSWORD_B64,
        state: { step: 'login-password', user },
      };
    }
    default:
      return { kind: 'error', error: 'mechanism' };
  }
}

/** Continues an exchange with the client's next line. */
export function saslContinue(state: SaslState, line: string): SaslStep {
  const l = line.trim();
  // RFC 4954 §4: a line of "*" cancels the exchange.
  if (l === '*') return { kind: 'error', error: 'cancelled' };
  switch (state.step) {
    case 'plain-response':
      return plain(l);
    case 'login-user': {
      const user = decodeBase64(l);
      if (user === undefined || user === '') return { kind: 'error', error: 'syntax' };
      return {
        kind: 'challenge',
        challenge: PASSWORD_B64,
        state: { step: 'login-password', user },
      };
    }
    case 'login-password': {
      const password = decodeBase64(l);
      if (password === undefined || password === '') return { kind: 'error', error: 'syntax' };
      return {
        kind: 'credentials',
        mechanism: 'LOGIN',
        credentials: { user: state.user, password },
      };
    }
  }
}
