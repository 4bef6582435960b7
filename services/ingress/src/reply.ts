/**
 * A decision's SMTP answer. Pure functions return one of these; the Haraka shims
 * map it to OK / DENY / DENYSOFT / ...DISCONNECT with the exact code and
 * enhanced status code (RFC 3463). Only the edge turns it into protocol bytes.
 */
export type Verdict = 'deny' | 'denysoft' | 'denydisconnect' | 'denysoftdisconnect';

export interface Refusal {
  readonly kind: Verdict;
  /** Three-digit reply code, e.g. 550. */
  readonly code: number;
  /** Enhanced status code, e.g. `5.1.1`. */
  readonly enhanced: string;
  readonly text: string;
}

/** `accept`: this check says yes (Haraka OK); `next`: no opinion (Haraka CONT). */
export type Reply =
  { readonly kind: 'accept'; readonly text?: string } | { readonly kind: 'next' } | Refusal;

export const accept = (text?: string): Reply =>
  text === undefined ? { kind: 'accept' } : { kind: 'accept', text };
export const next: Reply = { kind: 'next' };

function refuse(kind: Verdict, code: number, enhanced: string, text: string): Refusal {
  return { kind, code, enhanced, text };
}

export const deny = (code: number, enhanced: string, text: string): Refusal =>
  refuse('deny', code, enhanced, text);
export const denySoft = (code: number, enhanced: string, text: string): Refusal =>
  refuse('denysoft', code, enhanced, text);
export const denyDisconnect = (code: number, enhanced: string, text: string): Refusal =>
  refuse('denydisconnect', code, enhanced, text);
export const denySoftDisconnect = (code: number, enhanced: string, text: string): Refusal =>
  refuse('denysoftdisconnect', code, enhanced, text);

export const isRefusal = (r: Reply): r is Refusal => r.kind !== 'accept' && r.kind !== 'next';

/** The catalogue of refusals Mailmesh ingress gives; tests assert these exactly. */
export const replies = {
  // Connection policy
  listenerNotAllowed: (ip: string) =>
    denyDisconnect(554, '5.7.1', `Client host [${ip}] is not allowed on this listener`),
  tooManyConnections: () =>
    denySoftDisconnect(421, '4.7.0', 'Too many connections, try again later'),
  tooManyFromIp: (ip: string) =>
    denySoftDisconnect(421, '4.7.0', `Too many connections from [${ip}], try again later`),
  rateFromIp: (ip: string) =>
    denySoftDisconnect(421, '4.7.0', `Connection rate limit exceeded for [${ip}], try again later`),
  commandTimeout: () => denySoftDisconnect(421, '4.4.2', 'Error: timeout exceeded'),
  dataTimeout: () => denySoftDisconnect(421, '4.4.2', 'Error: timeout exceeded during DATA'),
  // AUTH (RFC 4954)
  authRequiresTls: () =>
    deny(538, '5.7.11', 'Encryption required for requested authentication mechanism'),
  authMechanism: () => deny(504, '5.5.4', 'Unrecognized authentication type'),
  authAlready: () => deny(503, '5.5.1', 'Already authenticated'),
  authSyntax: () => deny(501, '5.5.2', 'Cannot decode AUTH parameter'),
  authCancelled: () => deny(501, '5.0.0', 'Authentication cancelled'),
  authFailed: () => deny(535, '5.7.8', 'Error: authentication failed'),
  authIpCooldown: () =>
    denySoftDisconnect(421, '4.7.0', 'Too many failed authentications, try again later'),
  authAccountCooldown: () =>
    denySoft(454, '4.7.0', 'Temporary authentication failure, try again later'),
  authUnavailable: () => denySoft(454, '4.7.0', 'Temporary authentication failure'),
  authRequired: () => deny(530, '5.7.0', 'Authentication required'),
  // Envelope
  badSenderSyntax: (why: string) => deny(553, '5.1.7', `Bad sender address syntax: ${why}`),
  badRecipientSyntax: (why: string) => deny(553, '5.1.3', `Bad recipient address syntax: ${why}`),
  notOwnedSender: (addr: string) =>
    deny(553, '5.7.1', `Sender address <${addr}> not owned by the authenticated user`),
  unknownUser: (addr: string) =>
    deny(550, '5.1.1', `<${addr}>: Recipient address rejected: User unknown`),
  relayDenied: (addr: string) => deny(554, '5.7.1', `<${addr}>: Relay access denied`),
  tooManyRecipients: () => denySoft(452, '4.5.3', 'Error: too many recipients'),
  tlsRequired: (domain: string) =>
    deny(530, '5.7.0', `Must issue a STARTTLS command first: ${domain} requires TLS`),
  sizeDeclared: (limit: number) =>
    deny(552, '5.3.4', `Message size exceeds fixed limit of ${limit} bytes`),
  // Data
  sizeExceeded: (limit: number) =>
    deny(552, '5.3.4', `Message size exceeds fixed limit of ${limit} bytes`),
  fromHeaderNotOwned: (addr: string) =>
    deny(553, '5.7.1', `From: header address <${addr}> not owned by the authenticated user`),
  fromHeaderMissing: () => deny(553, '5.7.1', 'From: header missing or not parseable'),
  // Inline (before-queue) content scan; `rule` is `<policy>/<rule>`.
  policyRejected: (rule: string, check: string) =>
    deny(550, '5.7.1', `Message rejected by policy ${rule} (${check})`),
  scanUnavailable: () => denySoft(451, '4.3.0', 'Error: content scan unavailable, try again later'),
  storageUnavailable: () =>
    denySoft(451, '4.3.0', 'Error: queue file write error, try again later'),
  configNotReady: () => denySoft(451, '4.3.0', 'Error: configuration not loaded, try again later'),
  internalError: () => denySoft(451, '4.3.0', 'Error: internal error, try again later'),
} as const;
