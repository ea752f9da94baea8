import type { V1Secret } from '@kubernetes/client-node';

/** A Secret's values as the strings a CSI request carries (client-go's []byte turned into string). */
export function secretStrings(secret: V1Secret): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(secret.data ?? {}))
    out[key] = Buffer.from(value, 'base64').toString('utf8');
  for (const [key, value] of Object.entries(secret.stringData ?? {})) out[key] = value;
  return out;
}
