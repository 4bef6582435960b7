/**
 * PDF text for DLP with unpdf (a maintained serverless build of Mozilla's PDF.js),
 * loaded on first use so processes that never see a PDF do not pay for it. Pages
 * past `maxPages` are not read: a DLP hit in page 500 of a scanned archive is not
 * worth a scanner stall.
 */
import type { PdfTextExtractor } from './extract.js';

export function unpdfExtractor(maxPages = 100): PdfTextExtractor {
  return async (pdf) => {
    const { getDocumentProxy } = await import('unpdf');
    // Broken PDFs from strangers are normal here: no warnings on stderr (0 = errors only).
    const doc = await getDocumentProxy(new Uint8Array(pdf), { verbosity: 0 });
    try {
      const parts: string[] = [];
      for (let i = 1; i <= Math.min(doc.numPages, maxPages); i++) {
        const page = await doc.getPage(i);
        const content = await page.getTextContent();
        parts.push(content.items.map((it) => ('str' in it ? it.str : '')).join(' '));
      }
      return parts.join('\n');
    } finally {
      await doc.loadingTask.destroy();
    }
  };
}
