/**
 * Text of attachments for DLP: plain text, CSV and HTML in any charset, Office Open
 * XML documents (docx/xlsx/pptx: the XML parts inside the zip), and PDF text when a
 * PDF extractor is given.
 */
import iconv from 'iconv-lite';
import { convert as htmlToText } from 'html-to-text';

import type { MailPart } from '../mime.js';
import { extensionOf, isPdf, isZip } from '../magic.js';
import { walkZip } from '../internal/zip.js';
import { foldText } from './normalize.js';

/** Extracts the text of a PDF; injectable so the heavy PDF library is optional. */
export type PdfTextExtractor = (pdf: Buffer) => Promise<string>;

const TEXT_EXT = new Set(['txt', 'csv', 'tsv', 'log', 'md', 'json', 'xml', 'eml', 'ini', 'conf']);
const HTML_EXT = new Set(['htm', 'html', 'xhtml']);
const OFFICE_EXT = new Set(['docx', 'docm', 'dotx', 'xlsx', 'xlsm', 'pptx', 'pptm', 'ppsx']);
const OFFICE_PART =
  /^(word\/(document|header\d*|footer\d*|footnotes|endnotes|comments)\.xml|xl\/sharedStrings\.xml|xl\/worksheets\/sheet\d+\.xml|ppt\/slides\/slide\d+\.xml|ppt\/notesSlides\/notesSlide\d+\.xml|docProps\/core\.xml)$/;
const MAX_OFFICE_PART = 32 * 1024 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

// The most frequent Chinese characters (simplified): GBK bytes decoded as Big5, or the
// other way round, yield valid but rare characters, so the decoding with more of these wins.
const COMMON = new Set(
  '的一是不了在人有我他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话合机密资料内部财务报告',
);

function commonScore(s: string): number {
  let n = 0;
  for (const ch of foldText(s)) if (COMMON.has(ch)) n++;
  return n;
}

/**
 * Decodes text bytes: the declared charset when iconv-lite knows it, else a BOM,
 * else UTF-8 if valid, else whichever of GB18030 and Big5 reads more like Chinese.
 */
export function decodeText(buf: Buffer, charset = ''): string {
  if (charset !== '' && iconv.encodingExists(charset)) return iconv.decode(buf, charset);
  if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf)
    return buf.subarray(3).toString('utf8');
  if (buf[0] === 0xff && buf[1] === 0xfe) return iconv.decode(buf.subarray(2), 'utf-16le');
  if (buf[0] === 0xfe && buf[1] === 0xff) return iconv.decode(buf.subarray(2), 'utf-16be');
  try {
    return utf8.decode(buf);
  } catch {
    const gb = iconv.decode(buf, 'gb18030');
    const big5 = iconv.decode(buf, 'big5');
    return commonScore(big5) > commonScore(gb) ? big5 : gb;
  }
}

export function htmlText(html: string): string {
  return htmlToText(html, {
    wordwrap: false,
    selectors: [
      { selector: 'a', options: { ignoreHref: true } },
      { selector: 'img', format: 'skip' },
    ],
  });
}

const ENTITY = /&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi;

/** Text of an Office XML part: runs joined, paragraphs and cells on their own lines. */
export function xmlText(xml: string): string {
  return xml
    .replace(/<\/(w:p|a:p|c|si|row)>/g, '\n')
    .replace(/<(w:tab|w:br)\b[^>]*\/>/g, ' ')
    .replace(/<[^>]*>/g, '')
    .replace(ENTITY, (_m, e: string) => {
      const k = e.toLowerCase();
      if (k.startsWith('#x')) return String.fromCodePoint(parseInt(k.slice(2), 16));
      if (k.startsWith('#')) return String.fromCodePoint(Number(k.slice(1)));
      return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[k] ?? '';
    });
}

async function officeText(buf: Buffer): Promise<string> {
  const parts: string[] = [];
  await walkZip(
    buf,
    (m) =>
      OFFICE_PART.test(m.name) ? { read: true, keepBytes: MAX_OFFICE_PART } : { read: false },
    (_m, head) => {
      parts.push(xmlText(head.toString('utf8')));
    },
    MAX_OFFICE_PART,
  );
  return parts.join('\n');
}

/** Text of one attachment for DLP, `''` if it has none this scanner can read. */
export async function extractText(part: MailPart, pdf?: PdfTextExtractor): Promise<string> {
  const ext = extensionOf(part.filename);
  const type = part.contentType;
  try {
    if (HTML_EXT.has(ext) || type === 'text/html')
      return htmlText(decodeText(part.content, part.charset));
    if (TEXT_EXT.has(ext) || type.startsWith('text/'))
      return decodeText(part.content, part.charset);
    if ((OFFICE_EXT.has(ext) || type.includes('officedocument')) && isZip(part.content)) {
      return await officeText(part.content);
    }
    if (pdf && (ext === 'pdf' || type === 'application/pdf') && isPdf(part.content)) {
      return await pdf(part.content);
    }
  } catch {
    // An attachment that cannot be read has no text; the attachment check judges it.
  }
  return '';
}
