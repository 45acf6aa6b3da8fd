/**
 * Maps positions in bundled JavaScript back to the TypeScript they were built from, through the
 * bundle's source maps (version 3, `//# sourceMappingURL=` beside each chunk). The nodes and the
 * gateway run from the bundled settlenet CLI, so without this their profiles name only `chunk-*.js`.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** A position in a source file; lines and columns count from 0, as V8's call frames do. */
export interface SourcePosition {
  url: string;
  lineNumber: number;
  columnNumber: number;
}

/** One decoded mapping: generated column → source index, line, column. */
type Segment = [generatedColumn: number, source: number, line: number, column: number];

interface DecodedMap {
  sources: string[];
  /** Per generated line, segments sorted by generated column. */
  lines: Segment[][];
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DIGIT = new Map([...BASE64].map((char, index) => [char, index]));

/** Decodes one segment's base64 VLQ fields. */
function decodeFields(text: string): number[] {
  const fields: number[] = [];
  let value = 0;
  let shift = 0;
  for (const char of text) {
    const digit = DIGIT.get(char);
    if (digit === undefined) throw new Error(`invalid base64 VLQ character ${JSON.stringify(char)} in a source map`);
    value += (digit & 31) * 2 ** shift;
    if (digit & 32) {
      shift += 5;
      continue;
    }
    fields.push(value % 2 === 1 ? -(value - 1) / 2 : value / 2);
    value = 0;
    shift = 0;
  }
  return fields;
}

/** Decodes a source map's `mappings`; the source, line and column fields are deltas across the whole map. */
export function decodeMappings(mappings: string): Segment[][] {
  const lines: Segment[][] = [];
  let source = 0;
  let line = 0;
  let column = 0;
  for (const lineText of mappings.split(";")) {
    const segments: Segment[] = [];
    let generated = 0;
    for (const segmentText of lineText.split(",")) {
      if (segmentText === "") continue;
      const fields = decodeFields(segmentText);
      generated += fields[0] ?? 0;
      // A one-field segment maps generated code to no source.
      if (fields.length < 4) continue;
      source += fields[1] as number;
      line += fields[2] as number;
      column += fields[3] as number;
      segments.push([generated, source, line, column]);
    }
    segments.sort((a, b) => a[0] - b[0]);
    lines.push(segments);
  }
  return lines;
}

/** Resolves generated positions of files that carry a source map; files without one are left as they are. */
export class SourceMaps {
  readonly #maps = new Map<string, DecodedMap | undefined>();

  /** The original position of `position`, or `position` itself when its file has no map or the map no segment there. */
  resolve(position: SourcePosition): SourcePosition {
    if (!position.url.startsWith("file://")) return position;
    const map = this.#load(position.url);
    const segments = map?.lines[position.lineNumber];
    if (!map || !segments || segments.length === 0) return position;
    // The last segment starting at or before the column covers it.
    let low = 0;
    let high = segments.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if ((segments[middle] as Segment)[0] <= position.columnNumber) {
        found = middle;
        low = middle + 1;
      } else high = middle - 1;
    }
    const segment = segments[Math.max(found, 0)] as Segment;
    const source = map.sources[segment[1]];
    if (source === undefined) return position;
    return { url: source, lineNumber: segment[2], columnNumber: segment[3] };
  }

  #load(url: string): DecodedMap | undefined {
    if (this.#maps.has(url)) return this.#maps.get(url);
    let decoded: DecodedMap | undefined;
    const file = fileURLToPath(url);
    if (existsSync(file)) {
      const code = readFileSync(file, "utf8");
      const reference = /\/\/# sourceMappingURL=([^\s]+)\s*$/.exec(code)?.[1];
      const mapFile = reference && !reference.startsWith("data:") ? resolve(dirname(file), reference) : undefined;
      if (mapFile && existsSync(mapFile)) {
        const raw = JSON.parse(readFileSync(mapFile, "utf8")) as { sources?: string[]; sourceRoot?: string; mappings?: string };
        const base = resolve(dirname(mapFile), raw.sourceRoot ?? "");
        decoded = {
          sources: (raw.sources ?? []).map((source) => pathToFileURL(resolve(base, source)).href),
          lines: decodeMappings(raw.mappings ?? ""),
        };
      }
    }
    this.#maps.set(url, decoded);
    return decoded;
  }
}
