/**
 * Go's %q for a string, as upstream's messages quote names and server texts. JSON quoting agrees with it for the
 * printable text these messages carry.
 */
export function goQuote(text: string): string {
  return JSON.stringify(text);
}
