import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import { fromApiException } from '../kube/errors.js';

/** What a repeat of a known event changes on the server (client-go's two-way merge patch). */
export interface EventPatch {
  count: number;
  /** RFC 3339 with whole seconds, as metav1.Time marshals. */
  lastTimestamp: string;
  message?: string;
}

/**
 * Where recorded events go. Narrow so the recorder can get an API client of
 * its own (its own request budget) and tests can use FakeEventSink. Failures
 * the apiserver answered are KubeApiErrors, classified with kube/errors.
 */
export interface EventSink {
  create(namespace: string, event: CoreV1Event): Promise<CoreV1Event>;
  /** A strategic merge patch of an existing Event; rejects with status 404 when it is gone. */
  patch(namespace: string, name: string, patch: EventPatch): Promise<CoreV1Event>;
}

export type CoreV1EventApi = Pick<CoreV1Api, 'createNamespacedEvent' | 'patchNamespacedEvent'>;

const EVENTS = { group: '', resource: 'events' };

/** EventSink on client-node's CoreV1Api (core/v1 Events, as client-go's record package writes). */
export function coreV1EventSink(api: CoreV1EventApi): EventSink {
  return {
    async create(namespace, event) {
      try {
        return await api.createNamespacedEvent({ namespace, body: event });
      } catch (err) {
        throw fromApiException(err, `POST event ${namespace}/${event.metadata.name ?? ''}`, {
          method: 'POST',
          ...EVENTS,
        });
      }
    },
    async patch(namespace, name, patch) {
      try {
        // Without the header client-node sends application/json-patch+json, which the apiserver rejects for an object.
        return await api.patchNamespacedEvent(
          { namespace, name, body: patch },
          setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
        );
      } catch (err) {
        throw fromApiException(err, `PATCH event ${namespace}/${name}`, { method: 'PATCH', ...EVENTS, name });
      }
    },
  };
}
