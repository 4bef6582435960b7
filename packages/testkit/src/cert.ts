import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/**
 * A throwaway self-signed EC certificate for `cn` (also valid for 127.0.0.1),
 * written as `<dir>/<cn>.crt` and `<dir>/<cn>.key` with the openssl CLI, so no
 * private key is ever committed.
 */
export async function makeSelfSignedCert(
  dir: string,
  cn: string,
): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, `${cn}.crt`);
  const keyFile = join(dir, `${cn}.key`);
  await execFileP('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    `subjectAltName=DNS:${cn},IP:127.0.0.1`,
  ]);
  return { certFile, keyFile };
}
