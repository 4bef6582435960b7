/**
 * Walks a zip archive with yauzl without trusting it: entry sizes are validated
 * while inflating, member names are decoded as UTF-8 when flagged (else UTF-8 if
 * valid, else GB18030, which Chinese Windows writes), and every member is read
 * through a byte budget so a zip bomb costs at most `maxExpandedBytes` of work.
 */
import type { Readable } from 'node:stream';
import iconv from 'iconv-lite';
import yauzl from 'yauzl';

import { isZip } from '../magic.js';

export interface ZipMember {
  /** Decoded member name (path inside the archive). */
  readonly name: string;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly encrypted: boolean;
  readonly directory: boolean;
}

/** What to do with one member: skip it, or read up to `keepBytes` of it. */
export type MemberPlan =
  { readonly read: false } | { readonly read: true; readonly keepBytes: number };

export interface ZipWalkResult {
  /** Set when the archive (or a member stream) could not be read. */
  readonly error?: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeZipName(raw: Buffer, utf8Flag: boolean): string {
  if (utf8Flag) return raw.toString('utf8');
  try {
    return utf8.decode(raw);
  } catch {
    return iconv.decode(raw, 'gb18030');
  }
}

function openZip(buf: Buffer): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(
      buf,
      { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, strictFileNames: false },
      (err, zip) => (err ? reject(err) : resolve(zip)),
    );
  });
}

function openStream(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s)));
  });
}

/**
 * Reads a member, keeping its first `keep` bytes — or only 4 KiB of it once it is
 * seen not to be a zip itself (nested archives are the only members read whole);
 * stops after `limit` bytes in total.
 */
function readMember(
  s: Readable,
  keepMax: number,
  limit: number,
): Promise<{ head: Buffer; read: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let read = 0;
    let keep = keepMax;
    s.on('data', (c: Buffer) => {
      read += c.length;
      if (kept < 4 && kept + c.length >= 4) {
        const head = Buffer.concat([...chunks, c]);
        if (!isZip(head)) keep = Math.min(keep, 4096);
      }
      if (kept < keep) {
        const take = c.subarray(0, keep - kept);
        chunks.push(take);
        kept += take.length;
      }
      if (read >= limit) {
        s.destroy();
        resolve({ head: Buffer.concat(chunks), read });
      }
    });
    s.once('end', () => resolve({ head: Buffer.concat(chunks), read }));
    s.once('error', reject);
  });
}

/**
 * Calls `plan` for each member in central-directory order and, when it asks to
 * read, `onContent` with the kept bytes. `limit` caps the bytes inflated per member.
 */
export async function walkZip(
  buf: Buffer,
  plan: (m: ZipMember) => MemberPlan | Promise<MemberPlan>,
  onContent: (m: ZipMember, head: Buffer, bytesRead: number) => Promise<void> | void,
  limit: number,
): Promise<ZipWalkResult> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(buf);
  } catch (err) {
    return { error: (err as Error).message };
  }
  try {
    return await new Promise<ZipWalkResult>((resolve) => {
      let failed = false;
      const fail = (err: unknown): void => {
        if (failed) return;
        failed = true;
        resolve({ error: err instanceof Error ? err.message : String(err) });
      };
      zip.on('error', fail);
      zip.on('end', () => {
        if (!failed) resolve({});
      });
      zip.on('entry', (entry: yauzl.Entry) => {
        void (async () => {
          const rawName = entry.fileNameRaw ?? Buffer.from(String(entry.fileName), 'latin1');
          const name = decodeZipName(rawName, (entry.generalPurposeBitFlag & 0x800) !== 0);
          const member: ZipMember = {
            name,
            compressedSize: entry.compressedSize,
            uncompressedSize: entry.uncompressedSize,
            encrypted: (entry.generalPurposeBitFlag & 0x1) !== 0,
            directory: name.endsWith('/'),
          };
          const p = await plan(member);
          if (p.read && !member.encrypted && !member.directory) {
            const s = await openStream(zip, entry);
            const { head, read } = await readMember(s, p.keepBytes, limit);
            await onContent(member, head, read);
          }
          zip.readEntry();
        })().catch(fail);
      });
      zip.readEntry();
    });
  } finally {
    try {
      zip.close();
    } catch {
      // Already closed by yauzl after the last entry.
    }
  }
}
