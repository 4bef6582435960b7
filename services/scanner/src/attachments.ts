/**
 * The attachment check: blocked extensions on the decoded, normalised file name,
 * executables by content, size limits, and the same inside zip archives (nested,
 * with depth, expansion-ratio and total-size bounds against zip bombs, and a policy
 * choice for encrypted members that cannot be inspected).
 */
import type { MailPart } from './mime.js';
import { executableKind, extensionOf, isZip, normalizeFilename } from './magic.js';
import type { AttachmentPolicy } from './policy.js';
import { walkZip, type MemberPlan } from './internal/zip.js';

export type AttachmentRule =
  | 'blocked-extension'
  | 'executable-content'
  | 'max-size'
  | 'encrypted-archive'
  | 'zip-bomb'
  | 'archive-too-deep'
  | 'archive-unreadable';

export interface AttachmentFinding {
  readonly rule: AttachmentRule;
  /** Where: the file name, or `outer.zip/inner.zip/member` inside archives. */
  readonly path: string;
  readonly detail: string;
}

const HEAD_BYTES = 64;
/** A high ratio alone is normal for tiny files (a 10 KiB run of zeros); only large members count. */
const RATIO_MIN_BYTES = 1024 * 1024;

interface Budget {
  expanded: number;
}

function nameFindings(
  path: string,
  filename: string,
  policy: AttachmentPolicy,
  out: AttachmentFinding[],
): void {
  if (filename === '') return;
  const ext = extensionOf(filename);
  if (ext !== '' && policy.blockExtensions.includes(ext)) {
    out.push({ rule: 'blocked-extension', path, detail: `extension .${ext} is blocked` });
  }
}

function contentFindings(
  path: string,
  head: Buffer,
  policy: AttachmentPolicy,
  out: AttachmentFinding[],
): void {
  if (!policy.blockExecutableContent) return;
  const kind = executableKind(head);
  if (kind)
    out.push({ rule: 'executable-content', path, detail: `content is a ${kind} executable` });
}

async function inspectArchive(
  path: string,
  content: Buffer,
  depth: number,
  policy: AttachmentPolicy,
  budget: Budget,
  out: AttachmentFinding[],
): Promise<void> {
  if (depth > policy.maxArchiveDepth) {
    out.push({
      rule: 'archive-too-deep',
      path,
      detail: `archive nested deeper than ${policy.maxArchiveDepth} levels`,
    });
    return;
  }
  let bomb = false;
  const nested: Array<{ path: string; content: Buffer }> = [];
  const plan = (m: {
    name: string;
    compressedSize: number;
    uncompressedSize: number;
    encrypted: boolean;
    directory: boolean;
  }): MemberPlan => {
    if (bomb || m.directory) return { read: false };
    const memberPath = `${path}/${normalizeFilename(m.name) || m.name}`;
    nameFindings(memberPath, m.name, policy, out);
    if (m.encrypted) {
      if (policy.encryptedArchives === 'block') {
        out.push({
          rule: 'encrypted-archive',
          path: memberPath,
          detail: 'encrypted member cannot be inspected',
        });
      }
      return { read: false };
    }
    const ratio = m.compressedSize > 0 ? m.uncompressedSize / m.compressedSize : Infinity;
    if (m.uncompressedSize >= RATIO_MIN_BYTES && ratio > policy.maxExpansionRatio) {
      bomb = true;
      out.push({
        rule: 'zip-bomb',
        path: memberPath,
        detail: `expands ${Math.round(ratio)}:1 (limit ${policy.maxExpansionRatio}:1)`,
      });
      return { read: false };
    }
    budget.expanded += m.uncompressedSize;
    if (budget.expanded > policy.maxExpandedBytes) {
      bomb = true;
      out.push({
        rule: 'zip-bomb',
        path: memberPath,
        detail: `archive expands beyond ${policy.maxExpandedBytes} bytes`,
      });
      return { read: false };
    }
    if (policy.maxSizeBytes > 0 && m.uncompressedSize > policy.maxSizeBytes) {
      out.push({
        rule: 'max-size',
        path: memberPath,
        detail: `${m.uncompressedSize} bytes exceeds ${policy.maxSizeBytes}`,
      });
    }
    // walkZip keeps a member whole only when it is an archive itself.
    return { read: true, keepBytes: m.uncompressedSize };
  };
  const result = await walkZip(
    content,
    plan,
    (m, head) => {
      const memberPath = `${path}/${normalizeFilename(m.name) || m.name}`;
      contentFindings(memberPath, head.subarray(0, HEAD_BYTES), policy, out);
      if (isZip(head)) nested.push({ path: memberPath, content: head });
    },
    policy.maxExpandedBytes,
  );
  if (result.error !== undefined && !bomb) {
    out.push({
      rule: 'archive-unreadable',
      path,
      detail: `archive cannot be read: ${result.error}`,
    });
    return;
  }
  for (const n of nested) {
    if (bomb) break;
    await inspectArchive(n.path, n.content, depth + 1, policy, budget, out);
  }
}

/** Every finding of the attachment policy over a mail's parts, in part order. */
export async function checkAttachments(
  parts: readonly MailPart[],
  policy: AttachmentPolicy,
): Promise<AttachmentFinding[]> {
  const out: AttachmentFinding[] = [];
  for (const [i, part] of parts.entries()) {
    if (part.contentType === 'message/rfc822') continue; // its parts are listed themselves
    const path = normalizeFilename(part.filename) || `part-${i + 1}`;
    nameFindings(path, part.filename, policy, out);
    if (policy.maxSizeBytes > 0 && part.size > policy.maxSizeBytes) {
      out.push({
        rule: 'max-size',
        path,
        detail: `${part.size} bytes exceeds ${policy.maxSizeBytes}`,
      });
    }
    contentFindings(path, part.content.subarray(0, HEAD_BYTES), policy, out);
    if (policy.inspectArchives && isZip(part.content)) {
      if (part.truncated) {
        out.push({ rule: 'archive-unreadable', path, detail: 'archive too large to inspect' });
      } else {
        await inspectArchive(path, part.content, 1, policy, { expanded: 0 }, out);
      }
    }
  }
  return out;
}
