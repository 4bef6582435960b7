/**
 * Multi-document YAML for `mailmesh apply` and tests, with positions: every document
 * can turn a field path (`spec.mailboxes[2].name`) back into the line and column it was
 * written at, so errors read `domains.yaml:14:9: spec.mailboxes[2].name: ...`.
 *
 * Parsed as YAML 1.1 like kubectl (sigs.k8s.io/yaml), so `requireTLS: yes` is a boolean
 * there as here; timestamps stay strings, as the API server sees them. Duplicate keys
 * are an error, as in kubectl.
 */
import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Document,
  type Node as YamlNode,
} from 'yaml';

export interface Position {
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly col: number;
}

export interface YamlIssue extends Position {
  readonly message: string;
}

export interface LoadedDocument {
  /** 0-based index among the file's non-empty documents. */
  readonly index: number;
  /** Where the document starts. */
  readonly position: Position;
  readonly value: unknown;
  /** Position of a field path; of its nearest written ancestor if the field is absent. */
  locate(path: string): Position;
}

export interface LoadedYaml {
  readonly documents: readonly LoadedDocument[];
  /** Syntax errors; when there are any, `documents` holds only the documents before the first bad one. */
  readonly errors: readonly YamlIssue[];
}

/** `spec.mailboxes[2].name` -> `['spec', 'mailboxes', 2, 'name']`. */
export function parsePath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[1] !== undefined) out.push(m[1]);
  }
  return out;
}

function locator(doc: Document, lc: LineCounter): (path: string) => Position {
  return (path) => {
    let node: unknown = doc.contents;
    let offset = doc.contents?.range?.[0] ?? 0;
    for (const seg of parsePath(path)) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (pair === undefined || !isScalar(pair.key)) break;
        offset = pair.key.range?.[0] ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as YamlNode | undefined;
        if (item === undefined) break;
        offset = item.range?.[0] ?? offset;
        node = item;
      } else {
        break;
      }
    }
    const p = lc.linePos(offset);
    return { line: p.line, col: p.col };
  };
}

/** Parses every document of `text`; empty documents (a trailing `---`) are skipped. */
export function loadYaml(text: string): LoadedYaml {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, {
    version: '1.1',
    lineCounter: lc,
    uniqueKeys: true,
    customTags: (tags) =>
      tags.filter((t) => typeof t === 'string' || t.tag !== 'tag:yaml.org,2002:timestamp'),
  });
  const documents: LoadedDocument[] = [];
  const errors: YamlIssue[] = [];
  if (!Array.isArray(docs)) return { documents, errors };
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const p = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
        errors.push({ line: p.line, col: p.col, message: e.message.split('\n')[0] ?? e.message });
      }
      break;
    }
    // An empty document (`---` followed by `---`) is skipped, as kubectl skips it.
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) continue;
    const start = lc.linePos((doc.contents as YamlNode).range?.[0] ?? 0);
    documents.push({
      index: documents.length,
      position: { line: start.line, col: start.col },
      value: doc.toJS({ maxAliasCount: 100 }) as unknown,
      locate: locator(doc, lc),
    });
  }
  return { documents, errors };
}
