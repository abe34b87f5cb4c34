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
  /**
   * Delivers (durably: enqueued at the local QS, or persisted in the outbox for a remote one);
   * returns the items whose queue the destination QS refused as invalid, and how many items a
   * local QS could not take at all (`undelivered`). Throws when nothing could be made durable.
   */
  deliver(items: FanoutItem[], context: { operation: string }): Promise<{ rejected: FanoutItem[]; undelivered?: number }>;
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

function errorResponse(code: DSErrorCode): Uint8Array {
  return new DSResponse(DS_PROTOCOL_VERSION, { type: DSResponseType.error, code, supportedVersions: [] }).serialize();
}

export function mountDsEndpoints(server: ProviderServer, ds: DeliveryService, sink: FanoutSink, log: Logger): void {
  for (const [path, types] of Object.entries(ENDPOINT_TYPES)) {
    server.route("POST", path, path.slice(1), async (body) => {
      // DSRequest starts with version (2 bytes) then request_type (1 byte).
      if (body.length >= 3 && !types.has(body[2]!)) return { status: 200, body: errorResponse(DSErrorCode.unsupported_operation) };
      const r = await ds.handle(body);
      // Fanout is handed to the sink before the client gets its answer, so what the client sees
      // acknowledged is durable: enqueued at the local QS, or in the outbox for a remote QS
      // (FanoutOutbox.ts retries it). A commit has already advanced the DS state, so a sink
      // failure cannot turn into an error answer for it; it is logged by class only. An
      // application message changed nothing at the DS: if it could not be made durable for
      // every recipient, the sender is told to retry (temporarily_unavailable).
      let lost = false;
      let rejected: FanoutItem[] = [];
      try {
        const items = await r.fanout();
        if (items.length) {
          const d = await sink.deliver(items, { operation: r.operation });
          rejected = d.rejected;
          if (d.undelivered) lost = true;
        }
      } catch (e) {
        lost = true;
        log.warn("fanout_failed", { operation: r.operation, error: (e as Error).name });
      }
      // A refused queue reference: the DS proposes that member's removal and fans it out.
      if (rejected.length) {
        try {
          const proposals = await r.reportRejectedQueues(rejected);
          if (proposals.length) await sink.deliver(proposals, { operation: "ds_remove_proposal" });
        } catch (e) {
          log.warn("fanout_failed", { operation: "ds_remove_proposal", error: (e as Error).name });
        }
      }
      if (lost && r.operation === "send_message") return { status: 200, body: errorResponse(DSErrorCode.temporarily_unavailable) };
      return { status: 200, body: r.response };
    });
  }
}
