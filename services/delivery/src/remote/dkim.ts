/**
 * DKIM signing (RFC 6376) with mailauth, as the last change to a message: after
 * this, delivery only streams the bytes. The key comes from the sender domain's
 * `outbound.dkim.keySecretRef` (PEM, RSA or Ed25519).
 */
import { createPrivateKey } from 'node:crypto';
import type { CompiledDomain, ConfigSnapshot, DkimSettings } from '@mailmesh/config';
import { splitAddress } from '@mailmesh/config';
import { dkimSign } from 'mailauth';

/** Signing failed (bad key, unparsable message); the attempt fails temporarily. */
export class DkimSignError extends Error {
  override readonly name = 'DkimSignError';
  readonly retryable = true;
  constructor(
    readonly domain: string,
    readonly selector: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`DKIM signing for ${domain} (selector ${selector}) failed: ${detail}`, options);
  }
}

export interface Signer {
  readonly domain: CompiledDomain;
  readonly dkim: DkimSettings;
}

/**
 * The local domain that signs a mail: the domain of the From header (what DMARC
 * aligns with), else of the reverse-path, if it is ours and has DKIM settings.
 * Mail from other domains is never signed with our keys.
 */
export function signerFor(
  snapshot: ConfigSnapshot,
  fromHeader: string,
  mailFrom: string,
): Signer | undefined {
  for (const addr of [fromHeader, mailFrom]) {
    const parts = addr ? splitAddress(addr) : undefined;
    if (!parts) continue;
    const domain = snapshot.domainOf(parts.domain);
    if (domain?.outbound.dkim) return { domain, dkim: domain.outbound.dkim };
    if (domain) return undefined;
  }
  return undefined;
}

/** The Secret holding a domain's key when `keySecretRef` is absent (the operator generates it). */
export function defaultDkimSecret(domain: string): { name: string; key: string } {
  return { name: `dkim-${domain.replace(/\./g, '-')}`, key: 'private.pem' };
}

/** Returns the message with DKIM-Signature prepended. */
export async function signMessage(
  message: Buffer,
  domain: string,
  selector: string,
  privateKeyPem: string,
  now: Date,
): Promise<Buffer> {
  let algorithm: string;
  try {
    algorithm =
      createPrivateKey(privateKeyPem).asymmetricKeyType === 'ed25519'
        ? 'ed25519-sha256'
        : 'rsa-sha256';
  } catch (err) {
    throw new DkimSignError(domain, selector, 'the private key is not a PEM RSA or Ed25519 key', {
      cause: err,
    });
  }
  // mailauth 4 reads the keys from signatureData; its top-level fields only type-check.
  const entry = {
    signingDomain: domain,
    selector,
    privateKey: privateKeyPem,
    algorithm,
    canonicalization: 'relaxed/relaxed',
  };
  const res = await dkimSign(message, {
    ...entry,
    signatureData: [entry],
    signTime: now,
  });
  if (res.errors.length > 0 || res.signatures.trim() === '') {
    throw new DkimSignError(
      domain,
      selector,
      res.errors.map((e) => e.message).join('; ') || 'no signature produced',
    );
  }
  return Buffer.concat([Buffer.from(res.signatures, 'utf8'), message]);
}
