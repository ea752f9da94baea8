import { readFileSync } from 'node:fs';

// API requests by identity from the apiserver's audit log (JSON lines, Metadata level). A watch is counted once,
// at its ResponseStarted stage (it may still be open when the log is read); every other request at
// ResponseComplete.

interface AuditEvent {
  stage: string;
  verb: string;
  userAgent?: string;
  user?: { username?: string };
  objectRef?: { resource?: string; subresource?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
}

export interface RequestCounts {
  /** `verb resource[/subresource]` → requests, e.g. `create persistentvolumes`. */
  byVerb: Record<string, number>;
  /** HTTP status → requests, for spotting 409 conflicts and 429 throttling. */
  byStatus: Record<string, number>;
  total: number;
}

/** Who sent a request: the sidecar under test (by its label), KCM, or anyone else (the bench, the apiserver…). */
export type Identity<S extends string = 'provisioner'> = S | 'kube-controller-manager' | 'other';

export interface AuditWindow {
  fromMs: number;
  toMs: number;
}

/**
 * Counts the requests of the sidecar under test (by user, reported under `sidecar.label`) and of KCM (admin user,
 * by user agent) in each window.
 */
export function countRequests<S extends string>(
  path: string,
  sidecar: { label: S; user: string },
  windows: Record<string, AuditWindow>,
): Record<string, Record<Identity<S>, RequestCounts>> {
  const out: Record<string, Record<Identity<S>, RequestCounts>> = {};
  const empty = (): RequestCounts => ({ byVerb: {}, byStatus: {}, total: 0 });
  for (const name of Object.keys(windows)) {
    out[name] = { [sidecar.label]: empty(), 'kube-controller-manager': empty(), other: empty() } as Record<
      Identity<S>,
      RequestCounts
    >;
  }
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    const event = JSON.parse(line) as AuditEvent;
    if (event.stage !== (event.verb === 'watch' ? 'ResponseStarted' : 'ResponseComplete')) continue;
    const at = Date.parse(event.requestReceivedTimestamp);
    const identity: Identity<S> =
      event.user?.username === sidecar.user
        ? sidecar.label
        : event.userAgent?.startsWith('kube-controller-manager')
          ? 'kube-controller-manager'
          : 'other';
    const resource = event.objectRef?.resource ?? '(non-resource)';
    const key = `${event.verb} ${resource}${event.objectRef?.subresource ? `/${event.objectRef.subresource}` : ''}`;
    for (const [name, window] of Object.entries(windows)) {
      if (at < window.fromMs || at >= window.toMs) continue;
      const counts = out[name][identity];
      counts.byVerb[key] = (counts.byVerb[key] ?? 0) + 1;
      const status = String(event.responseStatus?.code ?? 'none');
      counts.byStatus[status] = (counts.byStatus[status] ?? 0) + 1;
      counts.total++;
    }
  }
  return out;
}

/** Writes (create/update/patch/delete) among the counts, split into events and everything else. */
export function writesOf(counts: RequestCounts): { events: number; other: number } {
  let events = 0;
  let other = 0;
  for (const [key, n] of Object.entries(counts.byVerb)) {
    const [verb, resource] = key.split(' ');
    if (!['create', 'update', 'patch', 'delete', 'deletecollection'].includes(verb)) continue;
    if (resource === 'events') events += n;
    else other += n;
  }
  return { events, other };
}
