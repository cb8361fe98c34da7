import fs from 'node:fs';
import {
  findNodeAtLocation,
  getNodeValue,
  parseTree,
  printParseErrorCode,
  type Node,
  type ParseError,
} from 'jsonc-parser';

/** Where in a file something is: 1-based line and column. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/** A problem found in configuration: the file, where in it, the field (a dotted path), and what is wrong. */
export interface ConfigProblem {
  readonly file: string;
  readonly line?: number | undefined;
  readonly column?: number | undefined;
  readonly field?: string | undefined;
  readonly message: string;
}

/** `file:line:column field: message`, the shape editors and CI logs turn into links. */
export function formatProblem(p: ConfigProblem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}:${p.column ?? 1}`;
  return `${where} ${p.field ? `${p.field}: ` : ''}${p.message}`;
}

/** A JSON file read with the positions of its values, so problems can name the line they are on. */
export interface JsonSource {
  readonly file: string;
  /** The parsed value; undefined when the file has syntax errors. */
  readonly value: unknown;
  /** Syntax errors, each with line and column. */
  readonly syntaxProblems: readonly ConfigProblem[];
  /** The position of the value at `path`, or of its nearest existing parent (for a missing field). */
  positionOf(path: readonly (string | number)[]): SourcePosition | undefined;
}

/**
 * Reads strict JSON (no comments, no trailing commas) with jsonc-parser, which unlike JSON.parse reports every
 * syntax error with its offset; offsets become line:column here.
 */
export function readJsonSource(file: string, text = fs.readFileSync(file, 'utf8')): JsonSource {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false });
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\n') {
      lineStarts.push(i + 1);
    }
  }
  const at = (offset: number): SourcePosition => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] ?? 0) <= offset) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return { line: lo + 1, column: offset - (lineStarts[lo] ?? 0) + 1 };
  };
  // The parser may report one mistake twice at one offset (a trailing comma: "property name expected" and "value
  // expected"); the first says it.
  const syntaxProblems = errors
    .filter((e, i) => errors.findIndex((f) => f.offset === e.offset) === i)
    .map((e) => ({ file, ...at(e.offset), message: `JSON syntax error: ${printParseErrorCode(e.error)}` }));
  return {
    file,
    value: root && errors.length === 0 ? (getNodeValue(root) as unknown) : undefined,
    syntaxProblems,
    positionOf(path) {
      if (!root) {
        return undefined;
      }
      for (let n = path.length; n >= 0; n--) {
        const node: Node | undefined = findNodeAtLocation(root, path.slice(0, n));
        if (node) {
          // A property's value: point at its key, where a reader looks for the field.
          const target = node.parent?.type === 'property' ? node.parent : node;
          return at(target.offset);
        }
      }
      return undefined;
    },
  };
}
