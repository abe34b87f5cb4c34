// The client SDK runs in browsers (issue: "keep Node-only code behind an adapter"): the whole
// import graph of src/client/index.ts, followed file by file through relative imports, reaches
// no Node built-in and no server-only package. Node-only code sits behind src/platform.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { repoRoot } from "../helpers/repo.js";

const NODE_BUILTINS = new Set(["assert", "buffer", "child_process", "crypto", "dns", "events", "fs", "http", "https", "net", "os", "path", "process", "stream", "tls", "url", "util", "worker_threads", "zlib"]);
const SERVER_PACKAGES = ["level", "abstract-level", "classic-level", "koa", "prom-client"];

function importGraph(entry: string): { files: string[]; bad: string[] } {
  const seen = new Set<string>();
  const bad: string[] = [];
  const root = repoRoot();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, "utf8");
    // import/export ... from "x" and bare import "x"; `import type` is erased at compile time
    for (const m of src.matchAll(/^\s*(import|export)(\s+type)?[^'"]*?from\s+["']([^"']+)["']|^\s*import\s+["']([^"']+)["']/gm)) {
      if (m[2]) continue;
      const spec = (m[3] ?? m[4])!;
      if (spec.startsWith(".")) {
        let target = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
        if (!existsSync(target)) target = join(target.replace(/\.ts$/, ""), "index.ts");
        assert.ok(existsSync(target), `${relative(root, file)} imports a missing ${spec}`);
        walk(target);
      } else if (spec.startsWith("node:") || NODE_BUILTINS.has(spec.split("/")[0]!) || SERVER_PACKAGES.includes(spec)) {
        bad.push(`${relative(root, file)} -> ${spec}`);
      }
    }
    // Node globals are as Node-only as its modules
    src.split("\n").forEach((line, i) => {
      if (/^\s*\/\//.test(line)) return;
      if (/\bBuffer\.|\bprocess\.(env|versions|hrtime|nextTick)|\brequire\(/.test(line)) bad.push(`${relative(root, file)}:${i + 1} uses a Node global`);
    });
    // dynamic imports count too
    for (const m of src.matchAll(/import\(\s*["']([^"']+)["']\s*\)/g)) if (m[1]!.startsWith("node:")) bad.push(`${relative(root, file)} -> ${m[1]}`);
  };
  walk(join(root, entry));
  return { files: [...seen].map((f) => relative(root, f)), bad };
}

describe("the client SDK is browser-safe (its import graph has no Node built-ins)", () => {
  it("src/client/index.ts reaches neither node: modules nor server packages", () => {
    const g = importGraph("src/client/index.ts");
    assert.deepEqual(g.bad, []);
    for (const f of ["src/client/MimiClient.ts", "src/client/ObliviousHttpTransport.ts", "src/ohttp/OhttpClient.ts", "src/client/QueueClient.ts", "src/client/discovery.ts"]) assert.ok(g.files.includes(f), `the graph covers ${f}`);
    for (const f of g.files) assert.ok(!f.startsWith("src/server/") && !f.startsWith("src/store/") && !f.includes("Node"), `${f} is server or Node-only code`);
  });

  it("the check has teeth: the Node platform and the server are caught", () => {
    assert.ok(importGraph("src/platform/NodePlatform.ts").bad.some((b) => b.endsWith("node:crypto")));
    assert.ok(importGraph("src/server/Provider.ts").bad.length > 0);
    assert.ok(importGraph("src/client/nodeFetch.ts").bad.some((b) => b.endsWith("node:http")));
    assert.ok(importGraph("src/util/keygen.ts").bad.some((b) => b.includes("uses a Node global")), "Buffer use is caught");
  });
});
