// The relay's only outbound path: one fixed gateway URL, a pooled keep-alive agent, and a request
// built from scratch with exactly two headers. node:http is used rather than fetch because fetch
// adds its own headers (user-agent, accept, accept-language, sec-fetch-mode, accept-encoding) and
// silently decompresses responses; here every byte on the wire is chosen by this file.
import http from "node:http";
import https from "node:https";
import {
  ClientAbortedError,
  InvalidGatewayUrlError,
  RelayError,
  UpstreamResponseTooLargeError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from "./errors.js";

/** The two request media types a relay resource carries (RFC 9458 §9.2, chunked OHTTP draft). */
export type OhttpRequestMediaType = "message/ohttp-req" | "message/ohttp-chunked-req";

export interface GatewayResponse {
  status: number;
  /** the gateway's Content-Type, verbatim; undefined when it sent none */
  contentType: string | undefined;
  body: Buffer;
}

export interface GatewayClientOptions {
  /** whole exchange: queueing for a socket, connect, send, and the complete response body */
  timeoutMs: number;
  maxResponseBytes: number;
  /** upper bound on concurrent upstream connections (default 256) */
  maxSockets?: number;
}

// Idle pooled sockets are dropped before the 5 s keep-alive timeout common to node and many
// servers, so a reused socket is rarely one the gateway is closing; node lowers this further when
// the gateway announces `Keep-Alive: timeout=N`. A race remains possible and yields a 502: the relay
// never retries, because a resent encapsulated request is a replay.
const IDLE_SOCKET_MS = 4000;

export class GatewayClient {
  readonly url: URL;
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;

  constructor(url: string | URL, opts: GatewayClientOptions) {
    this.url = GatewayClient.parseUrl(String(url));
    const isHttps = this.url.protocol === "https:";
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 256, timeout: IDLE_SOCKET_MS };
    this.#agent = isHttps ? new https.Agent(agentOpts) : new http.Agent(agentOpts);
    this.#request = isHttps ? https.request : http.request;
    this.#timeoutMs = opts.timeoutMs;
    this.#maxResponseBytes = opts.maxResponseBytes;
  }

  /**
   * Validates a gateway URL. Credentials are refused because node would turn them into an
   * Authorization header (the upstream request must carry only Content-Type and Content-Length),
   * and a fragment has no meaning for a request target.
   */
  static parseUrl(s: string): URL {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new InvalidGatewayUrlError("gateway URL is not an absolute URL");
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new InvalidGatewayUrlError("gateway URL must be http or https");
    if (u.username !== "" || u.password !== "") throw new InvalidGatewayUrlError("gateway URL must not contain credentials");
    if (u.hash !== "") throw new InvalidGatewayUrlError("gateway URL must not contain a fragment");
    if (u.hostname === "") throw new InvalidGatewayUrlError("gateway URL has no host");
    return u;
  }

  /**
   * Sends one encapsulated request and buffers the response. Exactly one attempt; every failure
   * rejects with a RelayError subclass. Aborting `signal` (the client went away) destroys the
   * upstream request.
   */
  forward(mediaType: OhttpRequestMediaType, body: Uint8Array, signal?: AbortSignal): Promise<GatewayResponse> {
    return new Promise<GatewayResponse>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new ClientAbortedError());
        return;
      }
      let settled = false;
      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        return true;
      };
      const fail = (e: RelayError): void => {
        if (!finish()) return;
        // Destroying (rather than draining) keeps a half-read socket out of the pool.
        req.destroy();
        reject(e);
      };
      const onAbort = (): void => fail(new ClientAbortedError());

      const req = this.#request(this.url, {
        method: "POST",
        agent: this.#agent,
        // A fresh header object: nothing from the client request can reach it.
        headers: { "content-type": mediaType, "content-length": String(body.byteLength) },
      });
      const timer = setTimeout(() => fail(new UpstreamTimeoutError()), this.#timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });

      req.on("error", (e: NodeJS.ErrnoException) => fail(new UpstreamUnavailableError(errnoCode(e))));
      req.on("response", (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200) {
          fail(new UpstreamUnavailableError("EBADSTATUS"));
          return;
        }
        const declared = res.headers["content-length"];
        if (declared !== undefined && Number(declared) > this.#maxResponseBytes) {
          fail(new UpstreamResponseTooLargeError());
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          if (settled) return;
          size += c.length;
          if (size > this.#maxResponseBytes) {
            fail(new UpstreamResponseTooLargeError());
            return;
          }
          chunks.push(c);
        });
        res.on("end", () => {
          if (!finish()) return;
          resolve({ status, contentType: res.headers["content-type"], body: Buffer.concat(chunks, size) });
        });
        res.on("error", (e: NodeJS.ErrnoException) => fail(new UpstreamUnavailableError(errnoCode(e))));
        // A connection cut mid-body ends in "close" without "end" on some node versions.
        res.on("close", () => {
          if (!res.complete) fail(new UpstreamUnavailableError("ECONNRESET"));
        });
      });
      req.end(body);
    });
  }

  /** Drops pooled connections; in-flight requests are the caller's to drain first. */
  close(): void {
    this.#agent.destroy();
  }
}

// Only the errno name (a closed set like ECONNREFUSED) is kept; node's messages carry addresses.
function errnoCode(e: NodeJS.ErrnoException): string | undefined {
  return typeof e.code === "string" && /^[A-Z0-9_]{1,40}$/.test(e.code) ? e.code : undefined;
}
