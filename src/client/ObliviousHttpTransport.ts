// The client side of the OHTTP chain: every request the SDK makes is a Binary HTTP message,
// encapsulated to the gateway's key and POSTed to the relay. Uses only `fetch` and the
// project's codecs, so it runs unchanged in browsers.
import { BinaryRequest, BinaryResponse } from "../bhttp/index.js";
import { KeyConfig, KeyConfigList } from "../ohttp/KeyConfig.js";
import { OhttpClient } from "../ohttp/OhttpClient.js";
import { OHTTP_CHUNKED_REQ, OHTTP_CHUNKED_RES, OHTTP_KEYS, OHTTP_REQ, OHTTP_RES } from "../ohttp/mediaTypes.js";

export class TransportError extends Error {
  override name = "TransportError";
  constructor(
    message: string,
    /** "relay" when the relay or gateway refused the outer request; "network" when unreachable */
    readonly where: "relay" | "network" | "keys",
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface TransportOptions {
  relayUrl: string;
  keyConfig: KeyConfig;
  /** use message/ohttp-chunked-req (draft-ietf-ohai-chunked-ohttp) */
  chunked?: boolean;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export interface SimpleResponse {
  status: number;
  headers: Array<{ name: string; value: string }>;
  body: Uint8Array;
  header(name: string): string | undefined;
}

/** Fetches and parses an `application/ohttp-keys` list (RFC 9540 discovery). */
export async function fetchKeyConfigs(gatewayKeysUrl: string, f: typeof fetch = fetch): Promise<KeyConfig[]> {
  let res: Response;
  try {
    res = await f(gatewayKeysUrl, { headers: { accept: OHTTP_KEYS } });
  } catch (e) {
    throw new TransportError(`cannot reach ${gatewayKeysUrl}: ${(e as Error).message}`, "network");
  }
  if (res.status !== 200) throw new TransportError(`key configuration fetch answered ${res.status}`, "keys", res.status);
  const list = KeyConfigList.deserialize(new Uint8Array(await res.arrayBuffer()));
  if (list.configs.length === 0) throw new TransportError("gateway published no key configuration", "keys");
  return [...list.configs];
}

export class ObliviousHttpTransport {
  private readonly client: OhttpClient;
  private readonly f: typeof fetch;

  constructor(readonly opts: TransportOptions) {
    this.client = new OhttpClient(opts.keyConfig);
    this.f = opts.fetch ?? fetch;
  }

  /** Sends one Binary HTTP request through the relay and returns the target's response. */
  async request(req: BinaryRequest): Promise<BinaryResponse> {
    const inner = req.serialize();
    const ctx = this.opts.chunked
      ? await this.client.encapsulateChunkedRequest(inner)
      : await this.client.encapsulateRequest(inner);
    let res: Response;
    try {
      res = await this.f(this.opts.relayUrl, {
        method: "POST",
        headers: { "content-type": this.opts.chunked ? OHTTP_CHUNKED_REQ : OHTTP_REQ },
        // Never backed by a SharedArrayBuffer, so the narrower type fetch wants holds.
        body: ctx.encapsulatedRequest as Uint8Array<ArrayBuffer>,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      });
    } catch (e) {
      throw new TransportError(`relay unreachable: ${(e as Error).name}`, "network");
    }
    const body = new Uint8Array(await res.arrayBuffer());
    const expected = this.opts.chunked ? OHTTP_CHUNKED_RES : OHTTP_RES;
    const type = (res.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (res.status !== 200 || type !== expected) {
      throw new TransportError(`relay or gateway refused the request (${res.status})`, "relay", res.status);
    }
    return BinaryResponse.deserialize(await ctx.decapsulateResponse(body));
  }

  /** fetch-like convenience over `request`. */
  async fetch(
    url: string,
    init: { method?: string; headers?: Record<string, string>; body?: Uint8Array } = {},
  ): Promise<SimpleResponse> {
    const headers = Object.entries(init.headers ?? {}).map(([name, value]) => ({ name: name.toLowerCase(), value }));
    const req = BinaryRequest.fromUrl(init.method ?? (init.body ? "POST" : "GET"), url, headers, init.body ?? new Uint8Array(0));
    const res = await this.request(req);
    return {
      status: res.status,
      headers: [...res.headers],
      body: res.content,
      header: (name) => res.headers.find((h) => h.name === name.toLowerCase())?.value,
    };
  }
}
