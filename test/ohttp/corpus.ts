// Valid inputs for every OHTTP decoder, shared by the error-catalogue and fuzz tests.
import { randomBytes } from "node:crypto";
import { GatewayKeyPair, KeyConfig, KeyConfigList, OhttpClient, OhttpGateway } from "../../src/ohttp/index.js";

export interface Decoder {
  readonly name: string;
  readonly valid: Uint8Array;
  /**
   * true when the input is authenticated (AEAD-protected): any input that decodes must then
   * yield exactly what the valid input yields, or tampering went undetected.
   */
  readonly authenticated: boolean;
  /** resolves to a hex digest of what was decoded; rejects on failure */
  run(input: Uint8Array): Promise<string>;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

export async function makeDecoders(): Promise<Decoder[]> {
  const kpA = await GatewayKeyPair.generate(1);
  const kpB = await GatewayKeyPair.generate(2, [{ kdfId: 2, aeadId: 2 }]);
  const gateway = new OhttpGateway([kpA, kpB]);
  const client = new OhttpClient(kpA.config);
  const plain = await client.encapsulateRequest(randomBytes(40));
  const chunked = await client.encapsulateChunkedRequest([randomBytes(30), randomBytes(20), randomBytes(10)]);
  const plainRes = await (await gateway.decapsulateRequest(plain.encapsulatedRequest)).encapsulateResponse(randomBytes(40));
  const chunkedRes = await (await gateway.decapsulateChunkedRequest(chunked.encapsulatedRequest)).encapsulateResponse([
    randomBytes(25),
    randomBytes(15),
    randomBytes(5),
  ]);
  const list = new KeyConfigList([kpA.config, kpB.config]).serialize();
  return [
    { name: "KeyConfig.deserialize", valid: kpA.config.serialize(), authenticated: false, run: async (b) => hex(KeyConfig.deserialize(b).serialize()) },
    { name: "KeyConfigList.deserialize", valid: list, authenticated: false, run: async (b) => hex(KeyConfigList.deserialize(b).serialize()) },
    {
      name: "OhttpGateway.decapsulateRequest",
      valid: plain.encapsulatedRequest,
      authenticated: true,
      run: async (b) => hex((await gateway.decapsulateRequest(b)).request),
    },
    {
      name: "OhttpGateway.decapsulateChunkedRequest",
      valid: chunked.encapsulatedRequest,
      authenticated: true,
      run: async (b) => hex((await gateway.decapsulateChunkedRequest(b)).request),
    },
    { name: "client decapsulateResponse", valid: plainRes, authenticated: true, run: async (b) => hex(await plain.decapsulateResponse(b)) },
    { name: "client decapsulateResponse (chunked)", valid: chunkedRes, authenticated: true, run: async (b) => hex(await chunked.decapsulateResponse(b)) },
  ];
}
