// The body of /group_key_packages and /connection_key_packages: several KeyPackageRequests
// bundled into one transaction (draft-mcmillion s3.1.1 "MAY be bundled into the same
// transaction"), plus draft-barnes s7.3's lastResortAllowed, which KeyPackageRequest lacks:
//     struct {
//       KeyPackageRequest requests<V>;
//       bool last_resort_allowed;
//     } KeyPackageTransaction;
// The response answers requests[i] with users[i] (KeyPackageTransactionResponse).
import { MAX_TRANSACTION_REQUESTS } from "./KeyPackageConstants.js";
import { KeyPackageRequest } from "./KeyPackageRequest.js";
import { MalformedError } from "./errors.js";
import { decodeExact, TlsWriter, type TlsReader } from "./tls.js";

export function readBool(r: TlsReader, what: string): boolean {
  const b = r.u8(what);
  if (b > 1) throw new MalformedError(`${what}: invalid bool ${b}`);
  return b === 1;
}

export class KeyPackageTransaction {
  constructor(
    readonly requests: readonly KeyPackageRequest[],
    readonly lastResortAllowed: boolean,
  ) {}

  serialize(): Uint8Array {
    return new TlsWriter()
      .vector(this.requests, (w, q) => q.write(w))
      .u8(this.lastResortAllowed ? 1 : 0)
      .finish();
  }

  static deserialize(bytes: Uint8Array): KeyPackageTransaction {
    return decodeExact(bytes, "KeyPackageTransaction", (r) => {
      const requests = r.vector("requests", (ir) => KeyPackageRequest.read(ir), MAX_TRANSACTION_REQUESTS);
      if (requests.length === 0) throw new MalformedError("requests: empty transaction");
      return new KeyPackageTransaction(requests, readBool(r, "last_resort_allowed"));
    });
  }
}
