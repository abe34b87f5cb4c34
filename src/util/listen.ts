// Binding an HTTP server and reporting where it listens, the same way for every role.
import type http from "node:http";
import type { AddressInfo } from "node:net";

export interface ListenAddress {
  host: string;
  port: number;
  /** http://HOST:PORT (IPv6 in brackets) */
  url: string;
}

export function listenHttp(server: http.Server, host: string, port: number): Promise<ListenAddress> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const a = server.address() as AddressInfo;
      const h = a.family === "IPv6" ? `[${a.address}]` : a.address;
      resolve({ host: a.address, port: a.port, url: `http://${h}:${a.port}` });
    });
  });
}
