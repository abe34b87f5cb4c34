// DSRequests over the MoH endpoints, through any transport with a fetch-like interface (the
// OHTTP transport in production; a direct one in tests and federation).
import { DSRequestType } from "../protocol/constants.js";
import { DSResponse } from "../protocol/DSResponse.js";
import type { SimpleResponse } from "./ObliviousHttpTransport.js";

export interface FetchLike {
  fetch(url: string, init: { method?: string; headers?: Record<string, string>; body?: Uint8Array }): Promise<SimpleResponse>;
}

export class DsHttpError extends Error {
  override name = "DsHttpError";
  constructor(readonly status: number) {
    super(`provider answered HTTP ${status}`);
  }
}

/** The MoH endpoint that serves a request, from its request_type byte. */
export function endpointFor(request: Uint8Array): string {
  const t = request[2];
  if (t === DSRequestType.welcome_info) return "/welcome_information";
  if (t === DSRequestType.external_commit_info) return "/external_commit_information";
  return "/group_operation";
}

export class DsHttpClient {
  constructor(
    private readonly transport: FetchLike,
    /** the provider origin as the gateway's allow-list names it, e.g. http://127.0.0.1:8443 */
    readonly origin: string,
  ) {}

  async send(request: Uint8Array): Promise<DSResponse> {
    const r = await this.transport.fetch(`${this.origin}${endpointFor(request)}`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: request,
    });
    if (r.status !== 200) throw new DsHttpError(r.status);
    return DSResponse.deserialize(r.body);
  }
}
