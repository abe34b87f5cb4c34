// The DS endpoints of draft-kohbrok-mimi-moh. Each endpoint accepts only the DSRequest types
// that belong to it (the draft separates welcome and external-commit information from group
// operations); bodies are TLS-encoded DSRequest / DSResponse. The draft uses GET with a body for
// the two information endpoints; this profile uses POST (bodies on GET are not portable).
import { DS_PROTOCOL_VERSION, DSRequestType, DSResponseType } from "../protocol/constants.js";
import { DSResponse } from "../protocol/DSResponse.js";
import { DSErrorCode } from "../protocol/errors.js";
import type { DeliveryService, FanoutItem } from "../ds/DeliveryService.js";
import type { Logger } from "../util/log.js";
import type { ProviderServer } from "./ProviderServer.js";

/** Where accepted messages go (local enqueue / signed remote fanout). */
export interface FanoutSink {
  /** Delivers; returns the items whose queue the destination QS refused as invalid. */
  deliver(items: FanoutItem[], context: { operation: string }): Promise<{ rejected: FanoutItem[] }>;
}

const ENDPOINT_TYPES: Record<string, ReadonlySet<number>> = {
  "/welcome_information": new Set([DSRequestType.welcome_info]),
  "/external_commit_information": new Set([DSRequestType.external_commit_info]),
  "/group_operation": new Set(
    Object.values(DSRequestType).filter(
      (v): v is number => typeof v === "number" && v !== DSRequestType.welcome_info && v !== DSRequestType.external_commit_info,
    ),
  ),
};

function wrongEndpoint(): Uint8Array {
  return new DSResponse(DS_PROTOCOL_VERSION, { type: DSResponseType.error, code: DSErrorCode.unsupported_operation, supportedVersions: [] }).serialize();
}

export function mountDsEndpoints(server: ProviderServer, ds: DeliveryService, sink: FanoutSink, log: Logger): void {
  for (const [path, types] of Object.entries(ENDPOINT_TYPES)) {
    server.route("POST", path, path.slice(1), async (body) => {
      // DSRequest starts with version (2 bytes) then request_type (1 byte).
      if (body.length >= 3 && !types.has(body[2]!)) return { status: 200, body: wrongEndpoint() };
      const r = await ds.handle(body);
      // Fanout is handed to the sink before the client gets its answer, so what the client sees
      // acknowledged has reached the queues (a local QS enqueues durably). The DS state has
      // already advanced, so a sink failure cannot turn into an error answer; it is logged by
      // class only. (A durable outbox with retries for remote QSs belongs to the fanout issue.)
      try {
        const items = await r.fanout();
        if (items.length) {
          const { rejected } = await sink.deliver(items, { operation: r.operation });
          // A refused queue reference: the DS proposes that member's removal and fans it out.
          if (rejected.length) {
            const proposals = await r.reportRejectedQueues(rejected);
            if (proposals.length) await sink.deliver(proposals, { operation: "ds_remove_proposal" });
          }
        }
      } catch (e) {
        log.warn("fanout_failed", { operation: r.operation, error: (e as Error).name });
      }
      return { status: 200, body: r.response };
    });
  }
}
