// JSON.rawJSON ships in Node 24 (V8 11.4+) but not yet in TypeScript's ES2024 lib.
interface JSON {
  rawJSON(text: string): unknown;
}
