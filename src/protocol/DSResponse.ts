// DSResponse { DSProtocolVersion version; DSResponseBody response_body; }
import { decodeMlsMessage, decodeRatchetTree, type MLSMessage, type RatchetTree } from "../mls/adapter.js";
import { DSResponseType, MAX_GROUP_ID_BYTES } from "./constants.js";
import { DSErrorCode, MalformedError } from "./errors.js";
import type { Mls } from "./DSRequest.js";
import { decodeExact, TlsWriter } from "./tls.js";

export type DSResponseBody =
  | { readonly type: DSResponseType.ok }
  | { readonly type: DSResponseType.error; readonly code: DSErrorCode; readonly supportedVersions: readonly number[] }
  | { readonly type: DSResponseType.group_id; readonly groupId: Uint8Array }
  | { readonly type: DSResponseType.welcome_info; readonly ratchetTree: Mls<RatchetTree> }
  | { readonly type: DSResponseType.external_commit_info; readonly groupInfo: Mls<MLSMessage>; readonly ratchetTree?: Mls<RatchetTree> }
  | { readonly type: DSResponseType.signature_public_key; readonly signaturePublicKey: Uint8Array };

export class DSResponse {
  constructor(
    readonly version: number,
    readonly body: DSResponseBody,
  ) {}

  serialize(): Uint8Array {
    const w = new TlsWriter();
    w.u16(this.version).u8(this.body.type);
    const b = this.body;
    switch (b.type) {
      case DSResponseType.ok:
        break;
      case DSResponseType.error:
        w.u16(b.code).vector(b.supportedVersions, (iw, v) => iw.u16(v));
        break;
      case DSResponseType.group_id:
        w.opaque(b.groupId);
        break;
      case DSResponseType.welcome_info:
        w.raw(b.ratchetTree.bytes);
        break;
      case DSResponseType.external_commit_info:
        w.raw(b.groupInfo.bytes).optional(b.ratchetTree, (ow, t) => ow.raw(t.bytes));
        break;
      case DSResponseType.signature_public_key:
        w.opaque(b.signaturePublicKey);
        break;
    }
    return w.finish();
  }

  static deserialize(bytes: Uint8Array): DSResponse {
    return decodeExact(bytes, "DSResponse", (r) => {
      const version = r.u16("version");
      const type = r.u8("response_type");
      let body: DSResponseBody;
      switch (type) {
        case DSResponseType.ok:
          body = { type };
          break;
        case DSResponseType.error: {
          const code = r.u16("error_code");
          body = { type, code, supportedVersions: r.vector("supported_versions", (ir) => ir.u16("version"), 64) };
          break;
        }
        case DSResponseType.group_id:
          body = { type, groupId: r.opaque("group_id", MAX_GROUP_ID_BYTES) };
          break;
        case DSResponseType.welcome_info:
          body = { type, ratchetTree: r.mls("ratchet_tree", decodeRatchetTree) };
          break;
        case DSResponseType.external_commit_info: {
          const groupInfo = r.mls("group_info", decodeMlsMessage);
          body = { type, groupInfo, ratchetTree: r.optional("ratchet_tree", (or) => or.mls("ratchet_tree", decodeRatchetTree)) };
          break;
        }
        case DSResponseType.signature_public_key:
          body = { type, signaturePublicKey: r.opaque("signature_public_key", 1024) };
          break;
        default:
          throw new MalformedError(`unknown response_type ${type}`);
      }
      return new DSResponse(version, body);
    });
  }
}
